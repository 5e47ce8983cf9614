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
 * {@code shardline query --engine spark} use it). Queries pass; so do the read-only commands below (SHOW,
 * DESCRIBE, EXPLAIN, SET to read a setting, USE, REFRESH ...). Anything else that is a command, an insert or
 * a write is refused during analysis, before it runs, with one readable message; so are, inside queries,
 * script transforms (TRANSFORM ... USING runs a program), reflect/java_method (call any Java method),
 * relations read by path (parquet.`/any/path`, text.`/etc/...`: only catalog tables are readable) and SET
 * key=value (settings are the server's, not a client's). Subqueries are checked too.
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
        "ExplainCommand", "SetCommand", "SetCatalogAndNamespace", "SetNamespaceCommand", "SetCatalogCommand",
        "RefreshTable", "RefreshTableCommand", "ClearCacheCommand", "CommandResult", "LocalRelation"));

    /** Plan nodes refused even inside a query: they run programs or read files outside the catalog. */
    static final Set<String> REFUSED_NODES = new HashSet<>(Arrays.asList(
        "ScriptTransformation", "ScriptTransformationExec", "HiveScriptTransformationExec"));

    /** Expressions refused anywhere: they call arbitrary Java methods, reach the file system, or (XPath: an
     * XML document's DOCTYPE names a URL the parser fetches) make the server send requests. */
    static final Set<String> REFUSED_EXPRESSIONS = new HashSet<>(Arrays.asList(
        "CallMethodViaReflection", "XPathBoolean", "XPathShort", "XPathInt", "XPathLong", "XPathFloat",
        "XPathDouble", "XPathString", "XPathList"));

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
        extensions.injectParser((session, delegate) -> new CatalogInitParser(session, delegate));
        return BoxedUnit.UNIT;
    }

    static final String WRITER_PROPERTY = "shardline.warehouse.writer";

    static BoxedUnit check(SparkSession session, LogicalPlan plan) {
        if ("true".equals(session.sparkContext().getLocalProperty(WRITER_PROPERTY))) {
            return BoxedUnit.UNIT;
        }
        checkTree(plan);
        scala.collection.Iterator<LogicalPlan> subqueries = plan.subqueriesAll().iterator();  // nested ones too
        while (subqueries.hasNext()) {
            checkTree(subqueries.next());
        }
        return BoxedUnit.UNIT;
    }

    static void checkTree(LogicalPlan plan) {
        plan.foreach(node -> {
            String name = simpleName(node.getClass());
            if (!READ_ONLY_COMMANDS.contains(name) && isWriting(node.getClass())) {
                throw refuse(name + " is refused (queries, SHOW, DESCRIBE and EXPLAIN are allowed; data changes go "
                    + "through the pipeline's jobs)");
            }
            if (REFUSED_NODES.contains(name)) {
                throw refuse("script transforms (TRANSFORM ... USING) are refused");
            }
            if (node instanceof org.apache.spark.sql.execution.command.SetCommand) {
                scala.Option<?> kv = ((org.apache.spark.sql.execution.command.SetCommand) node).kv();
                if (kv.isDefined() && ((scala.Tuple2<?, ?>) kv.get())._2() instanceof scala.Some) {
                    throw refuse("SET key=value is refused (settings are fixed for this session; SET and SET key read them)");
                }
            }
            if (node instanceof org.apache.spark.sql.execution.datasources.LogicalRelation
                && ((org.apache.spark.sql.execution.datasources.LogicalRelation) node).catalogTable().isEmpty()) {
                throw refuse("reading files by path is refused; query the warehouse's tables and views (ml.*)");
            }
            node.expressions().foreach(expr -> {
                expr.foreach(e -> {
                    if (REFUSED_EXPRESSIONS.contains(simpleName(e.getClass()))) {
                        throw refuse(e.prettyName() + " is refused (it calls Java methods, reads files or fetches URLs)");
                    }
                    return BoxedUnit.UNIT;
                });
                return BoxedUnit.UNIT;
            });
            return BoxedUnit.UNIT;
        });
    }

    /** A Scala object's class is named {@code X$}: {@code CLEAR CACHE} is the object {@code ClearCacheCommand}. */
    static String simpleName(Class<?> cls) {
        String name = cls.getSimpleName();
        return name.endsWith("$") ? name.substring(0, name.length() - 1) : name;
    }

    static UnsupportedOperationException refuse(String why) {
        return new UnsupportedOperationException("the Shardline warehouse is read-only here: " + why);
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
