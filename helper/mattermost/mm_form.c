/*
 * The boundary is random: a file's bytes cannot be expected to avoid a
 * fixed one. Names are quoted-strings, as Go's mime/multipart (the server's
 * reader) writes them.
 */
#include "mm_form.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

const char *
mm_image_type(const char *path)
{
    unsigned char p[8];
    size_t        n = 0;
    FILE         *f = fopen(path, "rb");

    if (f) {
        n = fread(p, 1, sizeof(p), f);
        fclose(f);
    }

    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        return "image/png";
    }
    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) {
        return "image/jpeg";
    }
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
    {
        return "image/gif";
    }

    return NULL;
}

static void
mm_form_quoted(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', out);
        }
        fputc(*s == '\r' || *s == '\n' ? ' ' : *s, out);
    }
}

int
mm_form_write(const char *form, const mm_form_field_t *fields,
    const char *file_field, const char *filename, const char *file_type,
    const char *src, char *content_type, char *err, size_t errlen)
{
    char          boundary[64], buf[65536];
    unsigned char rnd[16];
    FILE         *in, *out = NULL;
    size_t        n;
    int           i, fd, rc;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        snprintf(err, errlen, "no random bytes: %s", strerror(errno));
        return -1;
    }
    n = (size_t) snprintf(boundary, sizeof(boundary), "ferry-");
    for (i = 0; i < (int) sizeof(rnd); i++) {
        n += (size_t) snprintf(
            boundary + n, sizeof(boundary) - n, "%02x", rnd[i]);
    }

    in = fopen(src, "rb");
    fd = in ? open(form, O_WRONLY | O_CREAT | O_EXCL, 0600) : -1;
    if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
        snprintf(err, errlen, "cannot write a form: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(form);
        }
        if (in) {
            fclose(in);
        }
        return -1;
    }

    for (; fields && fields->name; fields++) {
        fprintf(out,
            "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
            "%s\r\n",
            boundary, fields->name, fields->value);
    }
    fprintf(out,
        "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"",
        boundary, file_field);
    mm_form_quoted(out, filename);
    fprintf(out, "\"\r\nContent-Type: %s\r\n\r\n", file_type);

    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            break;
        }
    }
    fprintf(out, "\r\n--%s--\r\n", boundary);

    rc = ferror(in) || ferror(out) ? -1 : 0;
    fclose(in);
    if (fclose(out) != 0 || rc != 0) {
        snprintf(err, errlen, "cannot write a form: %s", strerror(errno));
        unlink(form);
        return -1;
    }

    snprintf(content_type, MM_FORM_TYPE_LEN, "multipart/form-data; boundary=%s",
        boundary);

    return 0;
}
