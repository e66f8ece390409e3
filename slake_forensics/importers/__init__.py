"""Import raw AWS logs (CloudTrail, VPC flow, Route 53, ...) into a local Security Lake layout."""
