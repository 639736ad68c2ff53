"""synthohive_spark.io: read tables (DataFrame, catalog name, path, or a PostgreSQL schema through
JDBC) and write generated ones."""
from synthohive_spark.io.jdbc import (JdbcDatabaseWriter, JdbcOutput, catalog_keys, database_writer, jdbc_package,
                                      metadata_with_keys, read_jdbc_schema, read_jdbc_table,
                                      write_jdbc_tables)
from synthohive_spark.io.readers import (FORMATS, TIME_TRAVEL, TableSourceError, is_path,
                                         read_table, require_delta)
from synthohive_spark.io.writers import (MANIFEST, MODES, DatabaseWriter, IncompleteOutputError,
                                         OutputExistsError, Target, check_targets, read_back,
                                         read_manifest, read_output, resolve_target, target_exists,
                                         write_table)

__all__ = ["FORMATS", "MANIFEST", "MODES", "TIME_TRAVEL", "DatabaseWriter", "IncompleteOutputError",
           "JdbcDatabaseWriter", "JdbcOutput", "catalog_keys",
           "database_writer", "jdbc_package", "metadata_with_keys", "read_jdbc_schema",
           "read_jdbc_table", "write_jdbc_tables",
           "OutputExistsError", "Target", "TableSourceError", "check_targets", "is_path",
           "read_back", "read_manifest", "read_output", "read_table", "require_delta", "resolve_target",
           "target_exists", "write_table"]
