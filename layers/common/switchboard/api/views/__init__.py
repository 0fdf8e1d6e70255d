"""API views: how the API shapes domain records into response bodies."""
