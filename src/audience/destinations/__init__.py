"""Destinations: committed events delivered to warehouse tables and webhooks, never lost."""
