"""What the budget files and the warehouse tables look like.

Column maps of every source family (as data, in ``families/*.toml``), the
source catalogue (``catalogue.toml``), the code and amount rules of the
French State budget, and the Pandera models of the tables. Nothing here
knows about Dagster.
"""
