"""The packed business key of ``credits`` orders rows as the key's columns do, or says it cannot (issue 11)."""

import hashlib

import duckdb
import pytest

from assets.publish import PUBLISHED, SORT_KEYS
from schemas.credits import BUSINESS_KEY
from warehouse.credits.order import PACKED_BUSINESS_KEY, UNPACKABLE
from warehouse.publication.parquet import publish_table
from warehouse.store import schema_sql

_KEY = ", ".join(BUSINESS_KEY)

#: Every value a column of the key takes here: the edges of each form, and nulls where the column allows them.
_VALUES = {
    "exercice": ["1999", "2000", "2021", "2100"],
    "phase": ["'PLF'", "'AMD'", "'LFI'", "'LFR'", "'EXEC'"],
    "type_budget": ["'BG'", "'BA'", "'CAS'", "'CCF'", "'CS'", "NULL"],
    "code_programme": ["'000'", "'099'", "'100'", "'352'", "'999'"],
    "code_action": ["'00'", "'09'", "'10'", "'99'", "NULL"],
    "code_sous_action": ["'01'", "'99'", "NULL"],
    "code_categorie": ["'21'", "'31'", "'99'", "NULL"],
    "code_titre": ["'0'", "'2'", "'9'", "NULL"],
}


def _credits(rows: int = 20_000) -> duckdb.DuckDBPyConnection:
    """``credits`` of the distinct keys among ``rows`` drawn at random from :data:`_VALUES`, in random order
    (one row per key, as in the warehouse: the order of rows sharing a key is no one's)."""
    connection = duckdb.connect()
    connection.execute(schema_sql())
    connection.execute("SELECT setseed(0.11)")
    picks = ", ".join(
        f"([{', '.join(values)}])[1 + floor(random() * {len(values)})::INTEGER] AS {column}"
        for column, values in _VALUES.items()
    )
    connection.execute(
        f"INSERT INTO credits SELECT exercice, phase, type_budget, '07', 'AA', code_programme, code_action, "
        f"code_sous_action, code_categorie, code_titre, 1.5, 2.25, NULL, NULL, false, 's', n::INTEGER + 1, 1 "
        f"FROM (SELECT DISTINCT ON ({_KEY}) {picks}, n FROM range({rows}) t(n)) ORDER BY hash(n)"
    )
    return connection


def test_the_packed_key_orders_rows_as_the_columns_of_the_key():
    connection = _credits()
    by_columns = connection.execute(f"SELECT {_KEY} FROM credits ORDER BY {_KEY}").fetchall()
    by_packed = connection.execute(f"SELECT {_KEY} FROM credits ORDER BY {PACKED_BUSINESS_KEY}").fetchall()
    assert by_packed == by_columns
    distinct = connection.execute(
        f"SELECT count(DISTINCT ({_KEY})), count(DISTINCT {PACKED_BUSINESS_KEY}) FROM credits"
    ).fetchall()[0]
    assert distinct[0] == distinct[1]  # one packed value per key: ties where the key ties, nowhere else


@pytest.mark.parametrize(
    "column, value",
    [
        ("code_programme", "'35'"),
        ("code_programme", "'3520'"),
        ("code_action", "'1a'"),
        ("code_action", "' 1'"),
        ("code_titre", "'٣'"),  # a digit, not an ASCII one
        ("phase", "'PLR'"),
        ("type_budget", "'bg'"),
    ],
)
def test_a_key_outside_its_forms_is_refused_never_misordered(column, value):
    connection = _credits(100)
    connection.execute(f"UPDATE credits SET {column} = {value} WHERE source_ligne = 50")
    with pytest.raises(duckdb.Error, match=UNPACKABLE):
        connection.execute(f"SELECT {_KEY} FROM credits ORDER BY {PACKED_BUSINESS_KEY}").fetchall()


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_credits_parquet_is_the_same_file_with_the_packed_key_or_without(tmp_path):
    connection = _credits()
    plain = publish_table(connection, "credits", tmp_path / "plain", PUBLISHED["credits"])
    packed = publish_table(connection, "credits", tmp_path / "packed", PUBLISHED["credits"], SORT_KEYS["credits"])
    assert _sha256(packed.path) == _sha256(plain.path)
    # a row the key cannot rank: sorted by the columns, the same file as without the packed key
    connection.execute("UPDATE credits SET code_action = '7' WHERE source_ligne = 50")
    plain = publish_table(connection, "credits", tmp_path / "plain", PUBLISHED["credits"])
    packed = publish_table(connection, "credits", tmp_path / "packed", PUBLISHED["credits"], SORT_KEYS["credits"])
    assert _sha256(packed.path) == _sha256(plain.path)
    rows = duckdb.connect().execute(f"SELECT {_KEY} FROM '{packed.path}'").fetchall()
    assert rows == connection.execute(f"SELECT {_KEY} FROM credits ORDER BY {_KEY}").fetchall()
    assert len(list((tmp_path / "packed").iterdir())) == 1  # no temporary file left


def test_the_packed_key_is_not_used_where_the_default_order_is_not_duckdbs(tmp_path):
    connection = _credits(1000)
    connection.execute("SET default_null_order = 'nulls_first'")
    plain = publish_table(connection, "credits", tmp_path / "plain", PUBLISHED["credits"])
    packed = publish_table(connection, "credits", tmp_path / "packed", PUBLISHED["credits"], SORT_KEYS["credits"])
    assert _sha256(packed.path) == _sha256(plain.path)
    first = duckdb.connect().execute(f"SELECT type_budget FROM '{packed.path}' LIMIT 1").fetchall()
    assert first == [(None,)]
