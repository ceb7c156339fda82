"""The schema and the Swagger UI without credentials: real problem+json, or the sign-in page for people."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json"
    return json.loads(response.content)


@pytest.mark.parametrize("accept", ["*/*", "application/vnd.oai.openapi", "application/json"])
def test_the_schema_without_credentials_is_a_problem_in_json(client, accept):
    response = client.get(reverse("api-v1:schema"), HTTP_ACCEPT=accept)

    assert response.status_code == 401
    problem = _problem(response)
    assert (problem["code"], problem["status"]) == ("not_authenticated", 401)
    assert problem["detail"] == "Authentication credentials were not provided."


def test_the_schema_asked_for_as_html_is_not_acceptable_in_json(client):
    response = client.get(reverse("api-v1:schema"), HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert _problem(response)["code"] == "not_acceptable"


def test_the_docs_page_sends_a_person_who_is_not_signed_in_to_the_sign_in_page(client):
    response = client.get(reverse("api-v1:docs"), HTTP_ACCEPT="text/html")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={reverse('api-v1:docs')}"


def test_the_docs_page_refuses_a_user_without_a_desk_role_as_a_problem_in_json(client, user):
    client.force_login(user)

    response = client.get(reverse("api-v1:docs"), HTTP_ACCEPT="text/html")

    assert response.status_code == 403
    assert _problem(response)["code"] == "permission_denied"


def test_an_api_error_asked_for_by_a_browser_is_still_json(client):
    response = client.get(reverse("api-v1:order-list"), HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 401
    assert _problem(response)["code"] == "not_authenticated"


def test_the_docs_page_opens_for_a_desk_member(client, viewer):
    client.force_login(viewer)

    response = client.get(reverse("api-v1:docs"))

    assert response.status_code == 200 and b"swagger" in response.content.lower()
