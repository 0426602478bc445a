"""The operator's web pages, rendered on the server: no front-end build step."""
