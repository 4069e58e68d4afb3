DROP TABLE export_tokens;
