"""The site's root: a desk user who opens http://host/ (or the admin's "View site") lands on a page."""

from __future__ import annotations

import pytest
from django.contrib import admin

pytestmark = pytest.mark.django_db


def test_the_root_sends_people_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_the_admins_view_site_link_opens_the_live_desk(client, trader):
    client.force_login(trader)

    page = client.get("/admin/").content.decode()

    assert admin.site.site_url == "/live/" and 'href="/live/"' in page
