"""API views of strategy versions (list, save or import, export, approve) and the node catalogue."""

from __future__ import annotations

from functools import cache

from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import DeskPermission, IsDeskMember
from strategies import selectors, services
from strategies.api.serializers import (
    GraphRefusedOutput,
    NodeTypeOutput,
    StrategyGraphInput,
    StrategyVersionDetailOutput,
    StrategyVersionOutput,
)
from strategies.engine import GraphRefused, Problem, catalogue
from strategies.engine.graph_shape import MAX_BYTES
from strategies.models import Strategy, StrategyVersion
from tradeconsole.exceptions import PROBLEM_CONTENT_TYPE

VIA = "api"
TAG = ["strategies"]
GRAPH_REFUSED = {
    (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
        GraphRefusedOutput, description="graph.refused: every problem, each naming its node and port; nothing saved"
    )
}


@cache
def node_types() -> list[dict]:
    """Return the engine's node catalogue, built once per process (it changes only with the code)."""
    return catalogue()


class StrategyNodeTypesApi(APIView):
    """The node types a strategy graph may use: typed ports and bounded parameters (the editor's palette)."""

    permission_classes = [IsDeskMember]
    pagination_class = None

    @extend_schema(tags=TAG, responses=NodeTypeOutput(many=True))
    def get(self, request):
        return Response(node_types())


def _strategy(request, pk: int) -> Strategy:
    return get_object_or_404(selectors.strategy_list(user=request.user), pk=pk)


def _graph_text(view: APIView, request) -> str:
    """Return the request's body as text for the compiler, which refuses what is not JSON or too large.

    The body is handed over unparsed so that a malformed graph is answered like any other
    refused graph (``graph.refused`` with ``graph.not_json``), not as DRF's parse error.

    :raises UnsupportedMediaType: the body is not sent as JSON (the API takes JSON only).
    :raises StrategyGraphRefused: the body is over Django's upload limit or not UTF-8 text.
    """
    if request.negotiator.select_parser(request, view.get_parsers()) is None:
        raise exceptions.UnsupportedMediaType(request.content_type)
    try:
        return request.body.decode("utf-8")
    except RequestDataTooBig:
        problem = Problem("graph.too_large", f"The graph is over {MAX_BYTES // 1024} KB of JSON.")
    except (UnicodeDecodeError, RawPostDataException):
        problem = Problem("graph.not_json", "The graph is not JSON text in UTF-8.")
    raise services.graph_refusal(GraphRefused([problem]))


class StrategyVersionListApi(generics.ListAPIView):
    """A strategy's versions, newest first; POST saves a graph as its next version (Trader)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "strategies.add_strategyversion"}
    serializer_class = StrategyVersionOutput

    def get_queryset(self):
        strategy = _strategy(self.request, self.kwargs["pk"])
        return selectors.strategy_version_list(user=self.request.user, strategy=strategy)

    @extend_schema(tags=TAG)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAG,
        request=StrategyGraphInput,
        responses={201: StrategyVersionDetailOutput, **GRAPH_REFUSED},
        summary="Save (or import) a graph as the strategy's next version",
        description=(
            "The body is the React Flow graph, as the version export returns it in `graph`. The compiler "
            "checks it first; a refused graph answers 400 `graph.refused` listing every problem and stores nothing."
        ),
    )
    def post(self, request, pk: int):
        strategy = _strategy(request, pk)
        version = services.strategy_version_save(
            actor=request.user, strategy=strategy, graph=_graph_text(self, request), via=VIA
        )
        return Response(StrategyVersionDetailOutput(version).data, status=status.HTTP_201_CREATED)


def _version(request, pk: int, number: int) -> StrategyVersion:
    strategy = _strategy(request, pk)
    return get_object_or_404(selectors.strategy_version_list(user=request.user, strategy=strategy), number=number)


class StrategyVersionDetailApi(APIView):
    """One version with its graph: the export, which a POST to the strategy's versions imports."""

    permission_classes = [IsDeskMember]

    @extend_schema(tags=TAG, responses=StrategyVersionDetailOutput)
    def get(self, request, pk: int, number: int):
        return Response(StrategyVersionDetailOutput(_version(request, pk, number)).data)


class StrategyVersionApproveApi(APIView):
    """Approve a version for broker sessions: a Risk manager other than its author."""

    # Refused early (permission_denied) without the Risk manager's permission, as every write of
    # the API; the service then refuses the author (strategy.approve_own_version) and a repeat.
    permission_classes = [DeskPermission]
    write_perms = {"POST": services.versions.APPROVE_PERM}

    @extend_schema(
        tags=TAG,
        request=None,
        responses=StrategyVersionOutput,
        summary="Approve a strategy version (a Risk manager other than its author)",
    )
    def post(self, request, pk: int, number: int):
        version = services.strategy_version_approve(actor=request.user, version=_version(request, pk, number), via=VIA)
        return Response(StrategyVersionOutput(version).data)
