//! Small builders shared by the migrations, so each table reads as a list of its columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

/// Length of the short strings that hold enumerations and codes.
pub const CODE_LEN: u32 = 32;

/// `CREATE TABLE name` with a UUID primary key `id`.
pub fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).col(col::pk_uuid("id")).take()
}

/// A required short string column for an enumeration or code.
pub fn code(name: &'static str) -> ColumnDef {
    col::string_len(name, CODE_LEN)
}

/// A required reference to `parent.id`, deleted with its parent.
pub fn owned_by<'a>(
    table: &'a mut TableCreateStatement,
    column: &'static str,
    parent: &'static str,
) -> &'a mut TableCreateStatement {
    table.col(col::uuid(column)).foreign_key(
        ForeignKey::create()
            .from_col(column)
            .to(parent, "id")
            .on_delete(ForeignKeyAction::Cascade),
    )
}

/// An optional reference to `parent.id` (the row outlives its parent's deletion as `NULL`).
pub fn refers_to<'a>(
    table: &'a mut TableCreateStatement,
    column: &'static str,
    parent: &'static str,
) -> &'a mut TableCreateStatement {
    table.col(col::uuid_null(column)).foreign_key(
        ForeignKey::create()
            .from_col(column)
            .to(parent, "id")
            .on_delete(ForeignKeyAction::SetNull),
    )
}

/// `created_at` and `updated_at`, both required.
pub fn timestamps(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(col::timestamp_with_time_zone("created_at"))
        .col(col::timestamp_with_time_zone("updated_at"))
}

/// A (possibly unique) index named after its table and columns.
pub fn index(table: &'static str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("idx_{table}_{}", columns.join("_")))
        .table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index.take()
}

/// Creates the tables and indexes in order.
pub async fn create_all(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for table in tables {
        manager.create_table(table).await?;
    }
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

/// Drops the tables in reverse order of creation (their indexes go with them).
pub async fn drop_all(manager: &SchemaManager<'_>, tables: &[&'static str]) -> Result<(), DbErr> {
    for table in tables.iter().rev() {
        manager
            .drop_table(Table::drop().table(*table).to_owned())
            .await?;
    }
    Ok(())
}
