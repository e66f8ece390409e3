"""The sample-lake generator: an organisation, background activity and incident stories, written as Security Lake writes them."""
