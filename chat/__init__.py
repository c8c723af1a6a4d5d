"""sinchchat's domain: rules, storage, the Redis bus and the service that ties them together."""
