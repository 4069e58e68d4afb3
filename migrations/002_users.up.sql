-- Accounts. Emails are stored normalised (trimmed, domain lower-cased), so
-- the unique constraint is on the stored value; passwords only as yescrypt.
CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
