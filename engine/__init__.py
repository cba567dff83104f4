"""rulectl: business rules as YAML, compiled to Snowflake SQL, planned and applied like Terraform."""

__version__ = "0.1.0"
