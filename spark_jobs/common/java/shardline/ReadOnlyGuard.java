package shardline;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

import scala.Function1;
import scala.runtime.BoxedUnit;

/**
 * Spark session extension that refuses every statement that could change data or the catalog.
 *
 * Enabled with {@code spark.sql.extensions=shardline.ReadOnlyGuard} (the Thrift server and
 * {@code shardline query} use it). Queries pass; so do the read-only commands below (SHOW, DESCRIBE,
 * EXPLAIN, SET, USE, REFRESH ...). Anything else that is a command, an insert or a write is refused
 * during analysis, before it runs, with one readable message.
 *
 * The process's own catalog upkeep (registering tables and partitions) runs on threads that carry the
 * Spark local property {@code shardline.warehouse.writer=true}; client statements never do (local
 * properties are per thread and cannot be set from SQL).
 */
public final class ReadOnlyGuard implements Function1<SparkSessionExtensions, BoxedUnit> {

    static final Set<String> READ_ONLY_COMMANDS = new HashSet<>(Arrays.asList(
        "ShowTables", "ShowTablesExtended", "ShowTablesCommand", "ShowNamespaces", "ShowNamespacesCommand",
        "ShowPartitions", "ShowPartitionsCommand", "ShowColumns", "ShowColumnsCommand",
        "ShowCreateTable", "ShowCreateTableCommand", "ShowCreateTableAsSerdeCommand",
        "ShowTableProperties", "ShowTablePropertiesCommand", "ShowViews", "ShowViewsCommand",
        "ShowFunctions", "ShowFunctionsCommand", "ShowCatalogs", "ShowCatalogsCommand",
        "ShowCurrentNamespace", "ShowCurrentNamespaceCommand", "ShowTableExtended",
        "DescribeRelation", "DescribeTableCommand", "DescribeColumn", "DescribeColumnCommand",
        "DescribeNamespace", "DescribeDatabaseCommand", "DescribeFunction", "DescribeFunctionCommand",
        "DescribeQueryCommand", "DescribeCommandBase",
        "ExplainCommand", "SetCommand", "ResetCommand", "SetCatalogAndNamespace", "SetNamespaceCommand",
        "SetCatalogCommand", "RefreshTable", "RefreshTableCommand", "RefreshResource", "ClearCacheCommand",
        "CommandResult", "LocalRelation"));

    static final String[] WRITING = {
        "org.apache.spark.sql.catalyst.plans.logical.Command",
        "org.apache.spark.sql.execution.command.RunnableCommand",
        "org.apache.spark.sql.execution.command.DataWritingCommand",
        "org.apache.spark.sql.catalyst.plans.logical.InsertIntoStatement",
        "org.apache.spark.sql.catalyst.plans.logical.V2WriteCommand",
    };

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        Function1<SparkSession, Function1<LogicalPlan, BoxedUnit>> builder =
            session -> (Function1<LogicalPlan, BoxedUnit>) plan -> check(session, plan);
        extensions.injectCheckRule(builder);
        return BoxedUnit.UNIT;
    }

    static final String WRITER_PROPERTY = "shardline.warehouse.writer";

    static BoxedUnit check(SparkSession session, LogicalPlan plan) {
        if ("true".equals(session.sparkContext().getLocalProperty(WRITER_PROPERTY))) {
            return BoxedUnit.UNIT;
        }
        plan.foreach(node -> {
            String name = node.getClass().getSimpleName();
            if (!READ_ONLY_COMMANDS.contains(name) && isWriting(node.getClass())) {
                throw new UnsupportedOperationException(
                    "the Shardline warehouse is read-only here: " + name + " is refused "
                    + "(queries, SHOW, DESCRIBE and EXPLAIN are allowed; data changes go through the pipeline's jobs)");
            }
            return BoxedUnit.UNIT;
        });
        return BoxedUnit.UNIT;
    }

    static boolean isWriting(Class<?> cls) {
        for (String name : WRITING) {
            try {
                if (Class.forName(name).isAssignableFrom(cls)) {
                    return true;
                }
            } catch (ClassNotFoundException e) {
                // not in this Spark version
            }
        }
        return false;
    }
}
