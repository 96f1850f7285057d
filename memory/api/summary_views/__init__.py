"""Summary views and tasks (issue 22): the reference's /v1/summary-views and /v1/tasks
routes, tenant-owned. `operations` holds one function per operation (REST and MCP call
it), `serializers` the input and output shapes, `views` the REST routes."""
