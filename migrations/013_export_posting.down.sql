DROP TABLE export_posting;
