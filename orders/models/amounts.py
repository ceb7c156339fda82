"""The sizes of the desk's decimals: quantities, prices and money, shared by the models and the forms."""

QUANTITY = {"max_digits": 18, "decimal_places": 4}
PRICE = {"max_digits": 18, "decimal_places": 6}
MONEY = {"max_digits": 20, "decimal_places": 4}
