"""Result schema and renderers (markdown tables, PNG plots)."""
