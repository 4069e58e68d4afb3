DROP TABLE import_errors;
DROP TABLE customers;
