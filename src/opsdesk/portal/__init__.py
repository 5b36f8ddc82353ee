"""The customer portal and the request widget that other websites embed."""
