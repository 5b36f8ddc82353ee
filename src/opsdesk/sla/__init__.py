"""Service level agreements: business-time clocks for responses and resolution."""
