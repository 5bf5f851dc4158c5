"""DRF serializers of the API's objects, one module per area; the idiom is in `common`."""
