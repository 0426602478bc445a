"""The schema of every store, as numbered ``.sql`` files: ``<store>/<backend>/0001_name.sql``."""
