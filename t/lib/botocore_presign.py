"""botocore's presigned S3 URLs, the reference t/unit/test_s3_sign.c compares
Ferry's signer with.

    botocore_presign.py EPOCH EXPIRES BUCKET [METHOD ENDPOINT KEY_HEX]...

prints one URL per METHOD ENDPOINT KEY_HEX triple (GET or PUT; the key in
hex so that any bytes survive the shell), path-style, region us-east-1, with
the credentials of AWS's published example, signed at EPOCH.
"""

import datetime
import sys
import types

import botocore.auth
import botocore.session
from botocore.config import Config

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OPERATION = {"GET": "get_object", "PUT": "put_object"}


def freeze_clock(epoch):
    # botocore.auth reads the time from datetime.datetime.utcnow() and has
    # no parameter for it; its own tests patch botocore.auth.datetime too.
    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return cls.utcfromtimestamp(epoch)

    botocore.auth.datetime = types.SimpleNamespace(datetime=Frozen)


def main(argv):
    epoch, expires, bucket = int(argv[1]), int(argv[2]), argv[3]
    cases = argv[4:]
    if len(cases) % 3 != 0:
        sys.exit("usage: " + __doc__.split("\n\n")[1].strip())

    freeze_clock(epoch)
    session = botocore.session.get_session()
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    clients = {}

    for i in range(0, len(cases), 3):
        method, endpoint, key_hex = cases[i : i + 3]
        if endpoint not in clients:
            clients[endpoint] = session.create_client(
                "s3",
                region_name="us-east-1",
                endpoint_url=endpoint,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                config=config,
            )
        key = bytes.fromhex(key_hex).decode("utf-8")
        print(
            clients[endpoint].generate_presigned_url(
                OPERATION[method],
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=expires,
            )
        )


if __name__ == "__main__":
    main(sys.argv)
