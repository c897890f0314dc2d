"""When things happen: one thin Lambda handler per job."""
