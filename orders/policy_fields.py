"""The RiskLimit fields that make an account's monitoring policy (a leaf: services and the monitor share it)."""

# The RiskLimit fields (and strategy parameters of the same names) that make an account's policy.
POLICY_FIELDS = (
    "stop_loss_pct",
    "take_profit_pct",
    "stale_order_seconds",
    "stale_order_action",
    "stale_reprice_max",
    "reject_retry_max",
)
