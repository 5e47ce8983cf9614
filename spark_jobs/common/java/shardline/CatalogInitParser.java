package shardline;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashSet;
import java.util.Set;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.parser.ParseException;
import org.apache.spark.sql.catalyst.parser.ParserInterface;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

import scala.collection.Seq;

/**
 * Lets the catalog set-up of a guarded {@code spark-sql} through, and nothing else.
 *
 * {@code spark-sql $(shardline spark-conf)} registers the warehouse with an init file ({@code -i}) of
 * CREATE DATABASE / TABLE / VIEW and ALTER TABLE ADD PARTITION statements, which the read-only guard
 * refuses. The file is named by the Spark setting {@code spark.shardline.catalogInit} (given on the command
 * line; SQL cannot change a SparkContext setting, and the guard refuses SET key=value anyway). While the statements parsed so far are exactly the file's statements, each one runs as
 * the warehouse writer (the guard's thread property); the first statement that is not one of them ends
 * that phase for good, so no later statement - the user's - is ever let through. Without the property
 * (jobs, {@code shardline query}, the Thrift server) this parser changes nothing.
 */
public final class CatalogInitParser implements ParserInterface {

    static final String INIT_FILE = "spark.shardline.catalogInit";
    private static volatile boolean initPhase = true;

    private final SparkSession session;
    private final ParserInterface delegate;
    private final Set<String> initStatements;

    public CatalogInitParser(SparkSession session, ParserInterface delegate) {
        this.session = session;
        this.delegate = delegate;
        this.initStatements = load(session.sparkContext().getConf().get(INIT_FILE, null));
    }

    static Set<String> load(String file) {
        Set<String> out = new HashSet<>();
        if (file == null) {
            return out;
        }
        try {
            for (String stmt : new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8).split(";\n")) {
                String norm = normalize(stmt);
                if (!norm.isEmpty()) {
                    out.add(norm);
                }
            }
        } catch (IOException e) {
            // no file: nothing is let through
        }
        return out;
    }

    static String normalize(String sql) {
        String s = sql.trim().replaceAll("\\s+", " ");
        return s.endsWith(";") ? s.substring(0, s.length() - 1).trim() : s;
    }

    @Override
    public LogicalPlan parsePlan(String sqlText) throws ParseException {
        if (!initStatements.isEmpty()) {
            boolean setup;
            synchronized (CatalogInitParser.class) {
                setup = initPhase && initStatements.contains(normalize(sqlText));
                if (!setup) {
                    initPhase = false;
                }
            }
            session.sparkContext().setLocalProperty(ReadOnlyGuard.WRITER_PROPERTY, setup ? "true" : null);
        }
        return delegate.parsePlan(sqlText);
    }

    @Override
    public LogicalPlan parseQuery(String sqlText) throws ParseException {
        return delegate.parseQuery(sqlText);  // view texts are parsed here: they neither open nor end the phase
    }

    @Override
    public Expression parseExpression(String sqlText) throws ParseException {
        return delegate.parseExpression(sqlText);
    }

    @Override
    public TableIdentifier parseTableIdentifier(String sqlText) throws ParseException {
        return delegate.parseTableIdentifier(sqlText);
    }

    @Override
    public FunctionIdentifier parseFunctionIdentifier(String sqlText) throws ParseException {
        return delegate.parseFunctionIdentifier(sqlText);
    }

    @Override
    public Seq<String> parseMultipartIdentifier(String sqlText) throws ParseException {
        return delegate.parseMultipartIdentifier(sqlText);
    }

    @Override
    public StructType parseTableSchema(String sqlText) throws ParseException {
        return delegate.parseTableSchema(sqlText);
    }

    @Override
    public DataType parseDataType(String sqlText) throws ParseException {
        return delegate.parseDataType(sqlText);
    }
}
