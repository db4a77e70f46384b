"""Operations: ``GET /healthz``, ``GET /metrics`` (the ``metrics`` extra) and the backlog reads behind them.

``health`` and ``views`` need nothing beyond Django; ``collector`` and
``instruments`` need prometheus-client and are imported only when it is
installed (``urls`` leaves ``/metrics`` out otherwise and the system check
webhooks_app.E080 says what to install).
"""
