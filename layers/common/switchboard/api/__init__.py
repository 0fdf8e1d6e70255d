"""HTTP glue shared by the API functions: envelopes, error mapping, request guards, pagination."""
