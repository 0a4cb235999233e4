"""One module per revision, numbered: 0001 is the schema of the first release."""
