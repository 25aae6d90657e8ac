"""Request bodies the API tests share."""

# A long BTCUSDT trade that happened: both fills inside their stored 1h bars.
TRADE = {
    "ticker": "btcusdt",
    "action": "executed",
    "side": "long",
    "entry_time": "2024-05-13T07:30:00Z",
    "entry_price": 62000,
    "quantity": 0.1,
    "exit_time": "2024-05-13T10:30:00Z",
    "exit_price": 62500,
    "fees": 6.2,
}
