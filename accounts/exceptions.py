"""Refusals of the accounts services: membership, permissions, halts and alerts.

HTTP statuses follow one rule across the project: 400 bad input, 403 the actor may not do
this, 404 no such thing, 409 the state of the desk forbids it now (halted, already final),
422 a pre-trade risk limit refuses it, 429 the rate limit.
"""

from __future__ import annotations

from tradeconsole.exceptions import ApplicationError


class AccountNotMember(ApplicationError):
    code = "account.not_member"
    http_status = 403
    default_message = "You are not a member of this account."


class PermissionRequired(ApplicationError):
    """The actor is a member but their role does not allow the action."""

    code = "permission.denied"
    http_status = 403
    default_message = "Your role does not allow this action."


class AccountHalted(ApplicationError):
    code = "account.halted"
    http_status = 409
    default_message = "Trading is halted on this account."


class HaltReasonRequired(ApplicationError):
    """A halt asked for from a page without saying why (the desk and the audit log show the reason)."""

    code = "account.halt_reason_required"
    http_status = 400
    default_message = "Say why trading is halted."


class DeskHalted(ApplicationError):
    """The desk-wide kill switch is engaged."""

    code = "desk.halted"
    http_status = 409
    default_message = "The kill switch is engaged: no new orders anywhere."


class AlertNotFound(ApplicationError):
    code = "alert.not_found"
    http_status = 404
    default_message = "No open alert matches."


class AlertAlreadyResolved(ApplicationError):
    code = "alert.resolved"
    http_status = 409
    default_message = "The alert is already resolved."


class AccountValueInvalid(ApplicationError):
    code = "account.value_invalid"
    http_status = 400
    default_message = "An account value is not valid."


class BrokerAccountInvalid(ApplicationError):
    """A field of a broker account is missing or malformed (code, name, currency, kind)."""

    code = "account.invalid"
    http_status = 400
    default_message = "The account is not valid."


class BrokerAccountCodeTaken(ApplicationError):
    code = "account.code_taken"
    http_status = 409
    default_message = "An account with this code already exists."


class MembershipExists(ApplicationError):
    code = "membership.exists"
    http_status = 409
    default_message = "This user is already a member of the account."


class MembershipInvalid(ApplicationError):
    """The user cannot be made a member (inactive, or no such account)."""

    code = "membership.invalid"
    http_status = 400
    default_message = "This user cannot be made a member of the account."


class CommandTextInvalid(ApplicationError):
    """Text bound for a worker command that the worker's decoder would refuse (a control character,
    non-ASCII where IB takes ASCII only, too long): refused at entry so the command never dead-letters."""

    code = "text.invalid"
    http_status = 400
    default_message = "The text holds characters the broker path cannot carry."


class TotpCodeInvalid(ApplicationError):
    """The code given to confirm an authenticator is not its current one."""

    code = "totp.code_invalid"
    http_status = 400
    default_message = "That code is not the authenticator's current one: check the phone's clock and try the next code."
