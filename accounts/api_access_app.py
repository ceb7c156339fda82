"""knox's app under the desk's name: its admin section reads "API access", not "Knox" (issue 22).

knox ships no AppConfig of its own; this one keeps its name and label (``knox``), so its tables,
migrations, permissions and admin URLs are unchanged.
"""

from django.apps import AppConfig


class ApiAccessConfig(AppConfig):
    name = "knox"
    label = "knox"
    verbose_name = "API access"
