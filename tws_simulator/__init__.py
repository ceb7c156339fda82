"""tws_simulator: a paper TWS that speaks the real TWS socket protocol at server version 157.

The unmodified ``ibapi`` EClient (9.81.1.post1, and ibapi-stable 10.x) connects to it as to TWS.
No Django import, and nothing from execution_worker.

Command line::

    python -m tws_simulator --host 127.0.0.1 --port 7497 --accounts DU0000001,DU0000002 --seed 1 \
        [--instruments AAPL=190,MSFT=420] [--cash 1000000] [--market-interval 0.25] [--partial-fills 1] \
        [--state-file sim.json] [--control-port 7498] ...   (``--help`` lists every option; SIGTERM stops it)

Python API (stable; other packages' tests rely on it)::

    from tws_simulator import Simulator, SimulatorConfig
    sim = Simulator(SimulatorConfig(host="127.0.0.1", port=0, accounts=["DU0000001"], seed=1,
                                    market_interval=0))   # 0: prices move only by set_price
    sim.start()              # serves from a background thread; returns once listening
    sim.port                 # the bound port
    sim.ledger.place_orders  # list of dicts: order_id, order_ref, client_id, account, symbol, action,
                             #   quantity, order_type, lmt_price, aux_price, arrived_ns (time.time_ns()
                             #   when the frame was read, before any processing)
    sim.ledger.executions    # list of dicts: exec_id, order_id, perm_id, client_id, account, symbol, side
                             #   (BOT/SLD), shares, price, cum_qty, avg_price, order_ref, commission, time, external
    sim.control.<method>(...)  # faults and inspection, see below
    sim.stop()

``sim.control`` methods (each is also a control-port command ``{"cmd": "<method>", ...kwargs}``,
answered by one line ``{"ok": true, "result": ...}``; start the port with ``control_port=0`` and read
``sim.control_port``):

- connections: ``drop_connections(client_id=None)``, ``refuse_connections(on=True)``,
  ``hang_handshake(on=True)``, ``client_id_in_use(count=1)`` (326 + close),
  ``connectivity_lost(restore="maintained"|"lost"|None, after=1.0)`` (1100 then 1102/1101),
  ``connectivity_restored(data="maintained")``, ``farm_flap(down_for=0.5)`` (2103 then 2104),
  ``delay_replies(seconds)``, ``force_4096_boundary(on=True)`` (bursts end exactly on 4096 bytes),
  ``restart(keep_state=True, down_for=0.0)``, ``drop_mid_chain(after=1, client_id=None)`` (abort after
  the n-th transmit=False placeOrder), ``drop_after_orders(count=1, client_id=None)``.
- orders: ``reject_next_order(reason="Insufficient margin", code=201, status="Inactive")``,
  ``fill_next_order(price=None)``, ``partially_fill_next_order(quantity=None, price=None)``,
  ``drop_status_messages(count=1)``, ``duplicate_status_messages(count=1)``,
  ``reorder_status_messages(count=1)``, ``roll_back_next_valid_id(client_id, by=1)``,
  ``fill_order(client_id, order_id, quantity=None, price=None)``, ``correct_execution(exec_id=None)``,
  ``inject_external_fill(account, symbol, action, quantity, price=None)`` (orderId 0, no orderRef, a permId).
- market: ``set_price(symbol, price, bid=None, ask=None)`` (touch one tick either side by default;
  matches resting orders at once), ``freeze_market(on=True)``, ``set_pacing(rate=None, mode=None)``.
- inspection: ``ledger()``, ``clear_ledger()``, ``state()``, ``clear_faults()``.

Market data: quotes follow each instrument's seeded price path (``clock`` in the config is the
simulator's clock; None reads ``time.time()``); reqHistoricalData (with keepUpToDate),
reqRealTimeBars, reqContractDetails, reqMatchingSymbols, reqAccountUpdates(Multi) and
reqCompletedOrders are served as TWS does, with its errors (200, 321, 162 pacing, 366); any other
request is answered with 321. Details: ``tws_simulator/README.md``.

Broker behaviour worth knowing: 9.81's default ``Order()`` is refused with 10268/10269 unless
``eTradeOnly``/``firmQuoteOnly`` are set False (switch: ``reject_etrade_attrs``); an order goes
PreSubmitted → Submitted → (partials) → Filled; pacing is 50 msg/s with error 100 (or paced with
``+PACEAPI``; ``pacing_rate=0`` disables it); clientId 0 is an ordinary clientId here (no binding
of manual orders), except that live execDetails of injected external orders go to it.
``transmit=False`` orders are held unreported until their chain's last ``transmit=True``; children
wait PreSubmitted until their parent fills; OCA groups cancel or reduce by ``ocaType``; no write ends
on a 4096-byte boundary and no message of id 0 is ever sent. Details: ``tws_simulator/README.md``.
"""

from tws_simulator.config import SimulatorConfig
from tws_simulator.simulator import Simulator

__all__ = ["Simulator", "SimulatorConfig"]
