DROP TABLE export_findings;
