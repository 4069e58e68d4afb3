-- The messages of a channel the export is posting now (issue 12): before a
-- batch of a channel's messages is sent, their ids go here, in one row per
-- channel, rather than a mark on each message's row (two updates of a
-- six-index row a message, where one is its outcome). A crash before the
-- batch's outcomes are recorded leaves the row, and the resumed export
-- looks in Mattermost for the post of each of these messages still to
-- export before it posts again. The row goes when the channel is done.
CREATE TABLE export_posting (
    channel_id   bigint PRIMARY KEY REFERENCES entities (id) ON DELETE CASCADE,
    message_ids  bigint[] NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
