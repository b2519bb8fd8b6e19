"""Credits: reading credit files, staging their lines, roles, rules and the load of ``credits``."""
