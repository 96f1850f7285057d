"""Summary-view and task routes, wire-compatible with agent-memory-server 0.15 / agent-memory-client 0.14.

POST   /v1/summary-views                          create a view
GET    /v1/summary-views                          the caller's views
GET    /v1/summary-views/{id}                     one view
DELETE /v1/summary-views/{id}                     delete it and its partitions (needs `delete`)
POST   /v1/summary-views/{id}/partitions/run      summarise one partition now
GET    /v1/summary-views/{id}/partitions          stored partitions (filtered by group values)
POST   /v1/summary-views/{id}/run                 a full run, as a Task
GET    /v1/tasks/{id}                             a task's status

Each view hands the request's data and scope to its operation in
`memory.api.summary_views.operations` and answers what it returns.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.api.schema_errors import declared
from memory.api.scope import request_scope
from memory.api.summary_views import operations
from memory.api.summary_views.serializers import (
    CreateSummaryViewSerializer,
    PartitionOutputSerializer,
    PartitionQuerySerializer,
    RunPartitionSerializer,
    RunViewSerializer,
    SummaryViewOutputSerializer,
    TaskOutputSerializer,
)
from memory.api.working_memory.serializers import AckOutputSerializer


class SummaryViewListView(APIView):
    @extend_schema(request=CreateSummaryViewSerializer, responses=declared(SummaryViewOutputSerializer, 403, 422))
    def post(self, request: Request) -> Response:
        return Response(operations.summary_view_create_respond(request.data, scope=request_scope(request)))

    @extend_schema(responses=declared(SummaryViewOutputSerializer(many=True)))
    def get(self, request: Request) -> Response:
        return Response(operations.summary_views_list_respond(scope=request_scope(request)))


class SummaryViewDetailView(APIView):
    @extend_schema(responses=declared(SummaryViewOutputSerializer, 404))
    def get(self, request: Request, view_id: str) -> Response:
        return Response(operations.summary_view_get_respond(view_id, scope=request_scope(request)))

    @extend_schema(responses=declared(AckOutputSerializer, 404))
    def delete(self, request: Request, view_id: str) -> Response:
        return Response(operations.summary_view_delete_respond(view_id, scope=request_scope(request)))


class SummaryViewPartitionRunView(APIView):
    @extend_schema(request=RunPartitionSerializer, responses=declared(PartitionOutputSerializer, 403, 404, 422, 503))
    def post(self, request: Request, view_id: str) -> Response:
        scope = request_scope(request)
        return Response(operations.summary_view_partition_run_respond(view_id, request.data, scope=scope))


class SummaryViewPartitionsView(APIView):
    @extend_schema(
        parameters=[PartitionQuerySerializer], responses=declared(PartitionOutputSerializer(many=True), 404, 422)
    )
    def get(self, request: Request, view_id: str) -> Response:
        query, scope = request.query_params.dict(), request_scope(request)
        return Response(operations.summary_view_partitions_respond(view_id, query, scope=scope))


class SummaryViewRunView(APIView):
    @extend_schema(request=RunViewSerializer, responses=declared(TaskOutputSerializer, 404, 409, 422))
    def post(self, request: Request, view_id: str) -> Response:
        return Response(operations.summary_view_run_respond(view_id, request.data, scope=request_scope(request)))


class TaskView(APIView):
    @extend_schema(responses=declared(TaskOutputSerializer, 404))
    def get(self, request: Request, task_id: str) -> Response:
        return Response(operations.task_get_respond(task_id, scope=request_scope(request)))
