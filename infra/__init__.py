"""Where things live: ports, their local and AWS adapters, settings, pipeline and the CLI."""
