"""Privacy regulations: delete, suppress and unsuppress a person, with an audit of each request."""
