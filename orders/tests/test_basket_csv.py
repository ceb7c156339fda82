"""A basket's CSV: lines read, and each bad row named with its code (orders.basket_csv)."""

from __future__ import annotations

import pytest

from orders.basket_csv import MAX_BYTES, basket_csv_read, basket_csv_write
from orders.services.baskets import MAX_LINES

pytestmark = pytest.mark.django_db


def codes(parsed) -> list[tuple[int, str]]:
    return [(error["row"], error["code"]) for error in parsed.errors]


def test_rows_become_lines_and_blank_columns_are_left_to_the_basket(instrument):
    parsed = basket_csv_read(b"\xef\xbb\xbfSymbol,Side,Qty,Limit\naapl,buy,10,100.50\nAAPL,S,5,\n\n")

    assert parsed.ok
    assert parsed.lines == [
        {
            "symbol": "AAPL",
            "side": "BUY",
            "quantity": "10",
            "order_type": "",
            "limit_price": "100.50",
            "stop_price": None,
            "tif": "",
        },
        {
            "symbol": "AAPL",
            "side": "SELL",
            "quantity": "5",
            "order_type": "",
            "limit_price": None,
            "stop_price": None,
            "tif": "",
        },
    ]
    assert parsed.rows == [2, 3]


def test_each_bad_row_is_named_with_its_code_and_the_good_rows_are_still_read(instrument):
    text = "\n".join(
        [
            "symbol,side,quantity,order_type,limit_price,tif",
            "AAPL,BUY,10,LMT,100,DAY",
            "ZZZZ,BUY,10,LMT,100,DAY",
            "AAPL,HOLD,10,LMT,100,DAY",
            "AAPL,BUY,ten,LMT,100,DAY",
            "AAPL,BUY,-3,LMT,100,DAY",
            "AAPL,BUY,10,LIMIT,100,DAY",
            "AAPL,BUY,10,LMT,100,FOREVER",
            "AAPL,BUY,10",
            "AAPL,SELL,,LMT,100,DAY",
        ]
    )

    parsed = basket_csv_read(text)

    assert not parsed.ok
    assert codes(parsed) == [
        (3, "basket.csv_unknown_symbol"),
        (4, "basket.csv_bad_side"),
        (5, "basket.csv_bad_number"),
        (6, "basket.csv_bad_number"),
        (7, "basket.csv_bad_order_type"),
        (8, "basket.csv_bad_tif"),
        (9, "basket.csv_missing_column"),
        (10, "basket.csv_bad_number"),
    ]
    assert parsed.rows == [2]
    assert parsed.errors[0]["values"]["symbol"] == "ZZZZ"


def test_a_header_without_a_required_column_is_refused(instrument):
    parsed = basket_csv_read("symbol,quantity\nAAPL,10\n")

    assert codes(parsed) == [(1, "basket.csv_missing_column")]
    assert parsed.errors[0]["field"] == "side"
    assert parsed.lines == []


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("symbol,side,quantity,quantity", "quantity"),
        ("symbol,qty,side,Quantity", "quantity"),
        ("symbol,side,quantity,side", "side"),
    ],
)
def test_a_column_named_twice_refuses_the_whole_file(instrument, header, column):
    # Before, a row's values took the last copy while the symbol look-up read the first.
    parsed = basket_csv_read(f"{header}\nAAPL,BUY,10,10\n")

    assert codes(parsed) == [(1, "basket.csv_duplicate_column")]
    assert parsed.errors[0]["field"] == column
    assert column in parsed.errors[0]["detail"]
    assert parsed.lines == []


def test_an_unknown_column_named_twice_is_ignored_as_before(instrument):
    parsed = basket_csv_read("symbol,side,quantity,note,note\nAAPL,BUY,10,a,b\n")

    assert parsed.errors == []
    assert [line["quantity"] for line in parsed.lines] == ["10"]


@pytest.mark.parametrize("text", ["", "\n\n", "symbol,side,quantity\n"])
def test_an_empty_file_is_refused(text):
    assert [code for _, code in codes(basket_csv_read(text))] == ["basket.csv_empty"]


def test_more_rows_than_a_basket_holds_are_refused(instrument):
    text = "symbol,side,quantity\n" + "AAPL,BUY,1\n" * (MAX_LINES + 1)

    parsed = basket_csv_read(text)

    assert codes(parsed) == [(MAX_LINES + 2, "basket.csv_too_many_rows")]
    assert parsed.lines == []


def test_a_file_that_is_not_utf8_text_or_too_large_is_refused():
    assert [code for _, code in codes(basket_csv_read(b"symbol,side\n\xff\xfe"))] == ["basket.csv_not_text"]
    assert [code for _, code in codes(basket_csv_read(b"x" * (MAX_BYTES + 1)))] == ["basket.csv_not_text"]


def test_a_cell_larger_than_the_csv_reader_takes_is_refused_not_raised(instrument):
    # Python's csv refuses a field over 131,072 characters (csv.Error): within MAX_BYTES, so a row's problem.
    huge = "symbol,side,quantity\nAAPL,BUY,1\nAAPL,BUY," + "1" * 140_000 + "\n"
    parsed = basket_csv_read(huge)
    assert codes(parsed) == [(3, "basket.csv_unreadable")]
    assert parsed.lines == []


def test_written_lines_read_back_the_same(instrument):
    parsed = basket_csv_read("symbol,side,quantity,stop_price,order_type\nAAPL,SELL,3,95,STP\n")

    assert basket_csv_read(basket_csv_write(parsed.lines)).lines == parsed.lines


@pytest.mark.parametrize("separator", ["\t", ";"])
def test_cells_pasted_from_a_spreadsheet_or_separated_by_semicolons_are_read(instrument, separator):
    text = separator.join(["symbol", "side", "quantity", "limit_price"]) + "\n"
    text += separator.join(["AAPL", "SELL", "4", "101.5"]) + "\n"

    parsed = basket_csv_read(text)

    assert parsed.ok
    assert (parsed.lines[0]["side"], parsed.lines[0]["quantity"], parsed.lines[0]["limit_price"]) == (
        "SELL",
        "4",
        "101.5",
    )
