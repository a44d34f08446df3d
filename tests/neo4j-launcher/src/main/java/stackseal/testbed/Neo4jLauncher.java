package stackseal.testbed;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Runs an embedded Neo4j Community DBMS with its Bolt connector: a real Neo4j (same store files,
 * same Cypher, same Bolt protocol) without the server tarball, which is not on Maven Central.
 *
 * <p>Why it exists: stackseal's tests need a real Neo4j whose raw store files they can scan, and
 * the local test image {@code stackseal-test/neo4j:5.26} needs an entrypoint that behaves like
 * the official image for what stackseal uses. So it honours the official image's conventions:
 * store in {@code --data} (default {@code /data}, transaction logs in {@code DATA/transactions}),
 * logs in {@code --logs} (default {@code /logs}), Bolt on {@code --bolt} (default
 * {@code 0.0.0.0:7687}), and the initial password from {@code --auth-file},
 * {@code NEO4J_AUTH_FILE} or {@code NEO4J_AUTH} ("neo4j/PASSWORD" or "none"), set only on the first
 * start of an empty store (like the official image, it never changes an existing store's password).
 *
 * <p>Prints {@code READY} on stdout once Bolt accepts connections; shuts down cleanly on SIGTERM.
 * Bad input is one line on stderr and exit status 2 (the password is never echoed); a Neo4j
 * failure is a line, then the stack trace, and exit status 1.
 */
public final class Neo4jLauncher {

    private static final String USAGE =
            "usage: Neo4jLauncher [--data DIR] [--logs DIR] [--bolt HOST:PORT] [--auth-file FILE]"
                    + " [--pagecache BYTES]";

    private Neo4jLauncher() {}

    /** What the command line and the environment asked for. */
    record Options(Path data, Path logs, String boltHost, int boltPort, String password,
                   boolean authEnabled, long pagecacheBytes) {}

    /** Bad input: reported as one line, exit status 2. */
    static final class UsageError extends Exception {
        UsageError(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        Options options;
        try {
            options = parse(args, System.getenv());
        } catch (UsageError e) {
            System.err.println("neo4j-launcher: " + e.getMessage());
            System.exit(2);
            return;
        }
        try {
            run(options);
        } catch (Throwable e) {
            System.err.println("neo4j-launcher: Neo4j failed: " + e);
            e.printStackTrace(System.err);
            System.exit(1);
        }
    }

    static Options parse(String[] args, Map<String, String> env) throws UsageError {
        Map<String, String> given = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String value;
            String key;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                key = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            } else {
                key = arg;
                if (i + 1 >= args.length) {
                    throw new UsageError("missing value after " + arg + "; " + USAGE);
                }
                value = args[++i];
            }
            switch (key) {
                case "--data", "--logs", "--bolt", "--auth-file", "--pagecache" -> given.put(key, value);
                default -> throw new UsageError("unknown option " + key + "; " + USAGE);
            }
        }
        Path data = Path.of(given.getOrDefault("--data", "/data")).toAbsolutePath();
        Path logs = Path.of(given.getOrDefault("--logs", "/logs")).toAbsolutePath();

        String bolt = given.getOrDefault("--bolt", "0.0.0.0:7687");
        int colon = bolt.lastIndexOf(':');
        if (colon <= 0) {
            throw new UsageError("--bolt must be HOST:PORT (e.g. 127.0.0.1:7687), got '" + bolt + "'");
        }
        int port;
        try {
            port = Integer.parseInt(bolt.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new UsageError("--bolt port must be a number, got '" + bolt.substring(colon + 1) + "'");
        }
        if (port < 1 || port > 65535) {
            throw new UsageError("--bolt port must be 1..65535, got " + port);
        }

        long pagecache;
        try {
            pagecache = Long.parseLong(given.getOrDefault("--pagecache", "67108864"));
        } catch (NumberFormatException e) {
            throw new UsageError("--pagecache must be a number of bytes, got '" + given.get("--pagecache") + "'");
        }

        // Same precedence as the official image: a file beats the plain variable.
        String auth = null;
        String authFile = given.getOrDefault("--auth-file", env.get("NEO4J_AUTH_FILE"));
        if (authFile != null && !authFile.isEmpty()) {
            try {
                auth = Files.readString(Path.of(authFile), StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw new UsageError("cannot read the auth file " + authFile + " (" + e.getClass().getSimpleName()
                        + "); give a readable file containing neo4j/PASSWORD");
            }
        } else if (env.get("NEO4J_AUTH") != null && !env.get("NEO4J_AUTH").isBlank()) {
            auth = env.get("NEO4J_AUTH").strip();
        }

        boolean authEnabled = true;
        String password = null;
        if (auth != null) {
            if (auth.equals("none")) {
                authEnabled = false;
            } else {
                int slash = auth.indexOf('/');
                if (slash < 0 || !auth.substring(0, slash).equals("neo4j")) {
                    // Never echo the value: it is a secret.
                    throw new UsageError("auth must be 'neo4j/PASSWORD' (with a slash) or 'none'");
                }
                password = auth.substring(slash + 1);
                if (password.length() < 8) {
                    throw new UsageError("the Neo4j password must be at least 8 characters long");
                }
            }
        }
        String host = bolt.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        return new Options(data, logs, host, port, password, authEnabled, pagecache);
    }

    static void run(Options o) throws Exception {
        Files.createDirectories(o.data());
        Files.createDirectories(o.logs());
        // An empty store is one whose system database was never created: only then is the
        // initial password applied (the official image never changes an existing store's one).
        boolean firstStart = !Files.exists(o.data().resolve("databases").resolve("system"));

        // The home directory only holds what embedded Neo4j may want beside the store
        // (nothing we rely on); keep it under the data directory so nothing leaks elsewhere.
        Path home = o.data().resolve(".launcher-home");
        Files.createDirectories(home);

        if (firstStart && o.authEnabled() && o.password() != null) {
            // No window in which Bolt accepts the default neo4j/neo4j: the password is set by a
            // first start with Bolt off, like the official image's set-initial-password step.
            DatabaseManagementService setup = builder(o, home, false).build();
            try {
                setup.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                        "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                        Map.of("password", o.password()));
            } finally {
                setup.shutdown();
            }
        }
        DatabaseManagementService dbms = builder(o, home, true).build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
            }
        }, "neo4j-launcher-shutdown"));

        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(120_000)) {
            throw new IllegalStateException("database 'neo4j' did not become available in 120 s");
        }
        waitForBolt(o.boltHost(), o.boltPort());
        System.out.println("READY");
        System.out.flush();
        stopped.await();
    }

    /** The DBMS configuration; {@code bolt=false} for the password-setting first start. */
    private static DatabaseManagementServiceBuilder builder(Options o, Path home, boolean bolt) {
        return new DatabaseManagementServiceBuilder(home)
                .setConfig(GraphDatabaseSettings.data_directory, o.data())
                .setConfig(GraphDatabaseSettings.transaction_logs_root_path, o.data().resolve("transactions"))
                .setConfig(GraphDatabaseSettings.logs_directory, o.logs())
                .setConfig(GraphDatabaseSettings.auth_enabled, o.authEnabled())
                .setConfig(GraphDatabaseSettings.pagecache_memory, o.pagecacheBytes())
                .setConfig(BoltConnector.enabled, bolt)
                .setConfig(BoltConnector.listen_address, new SocketAddress(o.boltHost(), o.boltPort()))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                // Netty's graceful shutdown waits 2 x 5 s by default; with every database already
                // stopped and checkpointed there is nothing left to wait for.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(2))
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1));
    }

    /** Bolt binds asynchronously: READY must mean a client can connect now. */
    private static void waitForBolt(String host, int port) throws InterruptedException {
        String target = host.equals("0.0.0.0") || host.equals("::") ? "127.0.0.1" : host;
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(target, port), 1000);
                return;
            } catch (IOException e) {
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("Bolt did not accept connections on " + target + ":" + port + " in 60 s");
    }
}
