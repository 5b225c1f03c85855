"""Request and response models, one module per resource (common: errors, paging, health).
flask-openapi3 validates requests with them and builds the OpenAPI document from the same classes.

Strictness, the same on every endpoint: unknown fields and query parameters are a 422 naming
them; JSON bodies are strict (an integer is a JSON number without a fractional part: 2 or 2.0,
as JSON Schema's `integer` says, not 2.5 or "2"; a boolean is true/false; a number may be an
integer); query and path values are text, parsed as documented.
"""
