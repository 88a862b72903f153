/*
 * The alertreflex demo service: a tiny JVM service for the reflexes to act on.
 *
 * Plain JDK 17, no build tool, no libraries:
 *
 *     javac -d OUTDIR src/alertreflex/demo/files/DemoService.java
 *     java -cp OUTDIR DemoService --port PORT [--host 127.0.0.1] [--log-file PATH]
 *
 * It serves Prometheus metrics (the gauge behind the BucketTooFull_ORANGE alert),
 * a Spring Boot actuator style loggers API whose levels really change what the
 * service logs, an actuator style thread dump, and a pizza order API that records
 * every order, duplicates included. GET / lists the endpoints.
 */

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

public final class DemoService {

    static final String ROOT = "ROOT";
    static final String ORANGE = "com.example.orange";
    static final String APP = "com.example.demo";
    static final String HTTP_LOG = "com.example.demo.http";
    static final String WORKER_THREAD = "orange-bucket-worker";

    static final int MAX_BODY = 1 << 20;
    static final int MAX_ORDERS = 10_000;
    static final int MAX_LOGGERS = 1_000;
    static final int HTTP_THREADS = 4;
    static final long WORKER_PERIOD_MS = 100;
    static final long WORKER_INFO_EVERY_NS = 5_000_000_000L;

    static final String TEXT = "text/plain; charset=utf-8";
    static final String JSON = "application/json";
    static final String METRICS = "text/plain; version=0.0.4; charset=utf-8";

    static final DateTimeFormatter TS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);
    static final Pattern NUMBER = Pattern.compile("[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?");

    static final String USAGE =
            "usage: java -cp OUTDIR DemoService --port PORT [--host HOST] [--log-file PATH]\n"
                    + "  --port PORT      TCP port to listen on (0: any free port)\n"
                    + "  --host HOST      address to bind (default 127.0.0.1)\n"
                    + "  --log-file PATH  append log lines to PATH (default: stdout)\n";

    // ------------------------------------------------------------------ state

    final Loggers loggers = new Loggers();
    final Log log;
    final AtomicLong bucketBits = new AtomicLong(Double.doubleToLongBits(0.0));
    final List<Map<String, Object>> orders = new ArrayList<>(); // guarded by itself
    final AtomicLong ordersTotal = new AtomicLong();
    final double startTime = System.currentTimeMillis() / 1000.0;

    DemoService(Log log) {
        this.log = log;
        log.loggers = loggers;
    }

    double bucket() {
        return Double.longBitsToDouble(bucketBits.get());
    }

    // ------------------------------------------------------------------ main

    public static void main(String[] args) {
        String host = "127.0.0.1";
        Integer port = null;
        String logFile = null;
        try {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                String value = null;
                int eq = arg.indexOf('=');
                if (arg.startsWith("--") && eq > 0) {
                    value = arg.substring(eq + 1);
                    arg = arg.substring(0, eq);
                }
                switch (arg) {
                    case "-h":
                    case "--help":
                        System.out.print(USAGE);
                        return;
                    case "--port":
                    case "--host":
                    case "--log-file":
                        if (value == null) {
                            if (i + 1 >= args.length) {
                                throw new IllegalArgumentException(arg + " needs a value");
                            }
                            value = args[++i];
                        }
                        break;
                    default:
                        throw new IllegalArgumentException("unknown argument " + args[i]);
                }
                if (arg.equals("--port")) {
                    port = parsePort(value);
                } else if (arg.equals("--host")) {
                    if (value.isEmpty()) {
                        throw new IllegalArgumentException("--host must not be empty");
                    }
                    host = value;
                } else {
                    if (value.isEmpty()) {
                        throw new IllegalArgumentException("--log-file must not be empty");
                    }
                    logFile = value;
                }
            }
            if (port == null) {
                throw new IllegalArgumentException("--port is required");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }

        Log log;
        try {
            log = logFile == null
                    ? new Log(new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), false,
                            StandardCharsets.UTF_8), false)
                    : new Log(new PrintStream(new FileOutputStream(logFile, true), false,
                            StandardCharsets.UTF_8), true);
        } catch (IOException e) {
            System.err.println("error: cannot open log file " + logFile + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        try {
            new DemoService(log).run(host, port);
        } catch (IOException e) {
            System.err.println("error: cannot listen on " + host + ":" + port + ": " + e);
            System.exit(1);
        }
    }

    static int parsePort(String value) {
        try {
            int port = Integer.parseInt(value);
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return port;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--port must be a number from 0 to 65535, got " + value);
        }
    }

    void run(String host, int port) throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        if (address.isUnresolved()) {
            throw new IOException("cannot resolve host " + host);
        }
        HttpServer server = HttpServer.create(address, 64);
        AtomicInteger n = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(HTTP_THREADS, r -> {
            Thread t = new Thread(r, "http-worker-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(pool);
        server.createContext("/", this::handle);
        server.start();

        Thread worker = new Thread(this::workerLoop, WORKER_THREAD);
        worker.setDaemon(true);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.log(APP, Level.INFO, "shutting down");
            worker.interrupt();
            server.stop(0);
            pool.shutdownNow();
            try {
                worker.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            log.close();
        }, "shutdown"));

        String shown = host.contains(":") ? "[" + host + "]" : host;
        String url = "http://" + shown + ":" + server.getAddress().getPort();
        log.announce("demo service listening on " + url + " pid=" + ProcessHandle.current().pid());
        log.log(APP, Level.INFO, "listening on " + url);
        worker.start();
    }

    // ------------------------------------------------------------------ worker

    void workerLoop() {
        long nextInfo = System.nanoTime() + WORKER_INFO_EVERY_NS;
        while (!Thread.currentThread().isInterrupted()) {
            String items = formatNumber(bucket());
            log.log(ORANGE, Level.DEBUG, "orange bucket at " + items + " items");
            long now = System.nanoTime();
            if (now - nextInfo >= 0) {
                log.log(ORANGE, Level.INFO, "orange bucket holds " + items + " items");
                nextInfo = now + WORKER_INFO_EVERY_NS;
            }
            try {
                Thread.sleep(WORKER_PERIOD_MS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    // ------------------------------------------------------------------ HTTP

    /** An error answer: status, message, and whether it is shown as JSON. */
    static final class HttpError extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;
        final String[] allow;

        HttpError(int status, String message) {
            this(status, message, null);
        }

        HttpError(int status, String message, String[] allow) {
            super(message, null, false, false);
            this.status = status;
            this.allow = allow;
        }
    }

    void handle(HttpExchange ex) {
        long start = System.nanoTime();
        String method = ex.getRequestMethod();
        String path = ex.getRequestURI().getRawPath();
        boolean json = path.startsWith("/actuator") || path.startsWith("/pizza");
        try {
            route(ex, method, path);
        } catch (HttpError e) {
            if (e.allow != null) {
                ex.getResponseHeaders().set("Allow", String.join(", ", e.allow));
            }
            sendError(ex, e.status, e.getMessage(), path, json);
        } catch (Throwable t) {
            log.log(APP, Level.ERROR, method + " " + path + " failed: " + t);
            sendError(ex, 500, "internal error: " + t.getClass().getSimpleName(), path, json);
        } finally {
            ex.close();
            double ms = (System.nanoTime() - start) / 1e6;
            log.log(HTTP_LOG, Level.DEBUG, String.format(Locale.ROOT, "%s %s %d %.1fms",
                    method, ex.getRequestURI().getRawPath(), ex.getResponseCode(), ms));
        }
    }

    void route(HttpExchange ex, String method, String path) throws IOException, HttpError {
        switch (path) {
            case "/":
                allow(method, "GET");
                send(ex, 200, TEXT, index());
                return;
            case "/-/healthy":
                allow(method, "GET");
                send(ex, 200, TEXT, "ok");
                return;
            case "/metrics":
                allow(method, "GET");
                send(ex, 200, METRICS, metrics());
                return;
            case "/bucket":
                allow(method, "GET", "POST", "PUT");
                if (isGet(method)) {
                    send(ex, 200, TEXT, formatNumber(bucket()));
                } else {
                    setBucket(ex);
                }
                return;
            case "/actuator/loggers":
            case "/actuator/loggers/":
                allow(method, "GET");
                send(ex, 200, JSON, toJson(allLoggers()));
                return;
            case "/actuator/threaddump":
                allow(method, "GET");
                if (wantsText(ex.getRequestHeaders())) {
                    send(ex, 200, TEXT, threadDumpText());
                } else {
                    send(ex, 200, JSON, toJson(threadDumpJson()));
                }
                return;
            case "/pizza/orders":
                allow(method, "GET", "POST");
                if (isGet(method)) {
                    List<Object> copy;
                    synchronized (orders) {
                        copy = new ArrayList<>(orders);
                    }
                    send(ex, 200, JSON, toJson(copy));
                } else {
                    newOrder(ex);
                }
                return;
            default:
                break;
        }
        if (path.startsWith("/actuator/loggers/")) {
            allow(method, "GET", "POST");
            String name = loggerName(path.substring("/actuator/loggers/".length()));
            if (isGet(method)) {
                send(ex, 200, JSON, toJson(loggerJson(name)));
            } else {
                setLogger(ex, name);
            }
            return;
        }
        if (path.startsWith("/pizza/orders/")) {
            allow(method, "GET");
            Object order = findOrder(path.substring("/pizza/orders/".length()));
            if (order == null) {
                throw new HttpError(404, "no pizza order " + path.substring("/pizza/orders/".length()));
            }
            send(ex, 200, JSON, toJson(order));
            return;
        }
        throw new HttpError(404, "not found: " + path);
    }

    static boolean isGet(String method) {
        return method.equals("GET") || method.equals("HEAD");
    }

    /** Throws 405 unless the method is one of those given (HEAD goes with GET). */
    static void allow(String method, String... methods) throws HttpError {
        for (String m : methods) {
            if (m.equals(method) || (m.equals("GET") && method.equals("HEAD"))) {
                return;
            }
        }
        List<String> shown = new ArrayList<>(List.of(methods));
        if (shown.contains("GET")) {
            shown.add(shown.indexOf("GET") + 1, "HEAD");
        }
        throw new HttpError(405, "method " + method + " not allowed, use " + String.join(" or ", methods),
                shown.toArray(new String[0]));
    }

    static void send(HttpExchange ex, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        if (contentType != null && status != 204) {
            ex.getResponseHeaders().set("Content-Type", contentType);
        }
        if (status == 204 || bytes.length == 0 || ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1); // -1: no body (0 would mean chunked)
            return;
        }
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    void sendError(HttpExchange ex, int status, String message, String path, boolean json) {
        if (ex.getResponseCode() != -1) {
            return; // headers already sent: nothing more to say
        }
        try {
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("timestamp", TS.format(Instant.now()));
                doc.put("status", status);
                doc.put("error", reason(status));
                doc.put("message", message);
                doc.put("path", path);
                send(ex, status, JSON, toJson(doc));
            } else {
                send(ex, status, TEXT, "error: " + message + "\n");
            }
        } catch (IOException e) {
            log.log(HTTP_LOG, Level.DEBUG, "cannot send error response: " + e);
        }
    }

    static String reason(int status) {
        switch (status) {
            case 400: return "Bad Request";
            case 404: return "Not Found";
            case 405: return "Method Not Allowed";
            case 406: return "Not Acceptable";
            case 413: return "Payload Too Large";
            case 503: return "Service Unavailable";
            default: return "Internal Server Error";
        }
    }

    static String readBody(HttpExchange ex) throws IOException, HttpError {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        try (InputStream in = ex.getRequestBody()) {
            int n;
            while ((n = in.read(chunk)) != -1) {
                buf.write(chunk, 0, n);
                if (buf.size() > MAX_BODY) {
                    throw new HttpError(413, "request body is larger than " + MAX_BODY + " bytes");
                }
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(buf.toByteArray()))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new HttpError(400, "request body is not valid UTF-8");
        }
    }

    static Map<String, String> query(HttpExchange ex) throws HttpError {
        Map<String, String> params = new LinkedHashMap<>();
        String raw = ex.getRequestURI().getRawQuery();
        if (raw == null || raw.isEmpty()) {
            return params;
        }
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String key = decode(eq < 0 ? pair : pair.substring(0, eq));
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            if (params.put(key, value) != null) {
                throw new HttpError(400, "query parameter '" + key + "' given more than once");
            }
        }
        return params;
    }

    static String decode(String s) throws HttpError {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new HttpError(400, "bad percent-encoding in '" + s + "'");
        }
    }

    String index() {
        return "alertreflex demo service\n\n"
                + "GET  /metrics                      Prometheus metrics\n"
                + "GET  /bucket                       the orange bucket gauge\n"
                + "POST /bucket?value=N               set it (PUT works too)\n"
                + "GET  /actuator/loggers             all loggers and levels\n"
                + "GET  /actuator/loggers/NAME        one logger\n"
                + "POST /actuator/loggers/NAME        {\"configuredLevel\": \"DEBUG\"} or null\n"
                + "GET  /actuator/threaddump          JSON, or text with Accept: text/plain\n"
                + "POST /pizza/orders                 order a pizza (any JSON body)\n"
                + "GET  /pizza/orders                 all orders\n"
                + "GET  /-/healthy                    ok\n";
    }

    // ------------------------------------------------------------------ bucket and metrics

    void setBucket(HttpExchange ex) throws IOException, HttpError {
        String raw = query(ex).get("value");
        if (raw == null) {
            throw new HttpError(400, "missing query parameter 'value': use " + ex.getRequestMethod()
                    + " /bucket?value=N with N a number of items >= 0");
        }
        if (!NUMBER.matcher(raw).matches()) {
            throw new HttpError(400, "value must be a number of items >= 0, got '" + raw + "'");
        }
        double value = Double.parseDouble(raw);
        if (Double.isInfinite(value)) {
            throw new HttpError(400, "value is too large: " + raw);
        }
        double before = Double.longBitsToDouble(bucketBits.getAndSet(Double.doubleToLongBits(value)));
        log.log(APP, Level.INFO, "orange bucket set to " + formatNumber(value)
                + " items (was " + formatNumber(before) + ")");
        send(ex, 200, TEXT, formatNumber(value));
    }

    static String formatNumber(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }

    String metrics() {
        StringBuilder sb = new StringBuilder();
        family(sb, "service_scs_ops_orange_bucket_gauge_max", "gauge",
                "Items in the orange bucket, as set with POST /bucket?value=N.");
        sample(sb, "service_scs_ops_orange_bucket_gauge_max", null, null, formatNumber(bucket()));
        family(sb, "demo_log_lines_total", "counter",
                "Log lines written, by level (lines below a logger's level are not counted).");
        for (Level level : Level.values()) {
            if (level != Level.OFF) {
                sample(sb, "demo_log_lines_total", "level", level.name(),
                        Long.toString(log.lines.get(level).get()));
            }
        }
        family(sb, "demo_pizza_orders_total", "counter", "Pizza orders received, duplicates included.");
        sample(sb, "demo_pizza_orders_total", null, null, Long.toString(ordersTotal.get()));
        family(sb, "demo_start_time_seconds", "gauge", "Start time of the service, in Unix seconds.");
        sample(sb, "demo_start_time_seconds", null, null, String.format(Locale.ROOT, "%.3f", startTime));
        return sb.toString();
    }

    static void family(StringBuilder sb, String name, String type, String help) {
        String escaped = help.replace("\\", "\\\\").replace("\n", "\\n");
        sb.append("# HELP ").append(name).append(' ').append(escaped).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    static void sample(StringBuilder sb, String name, String label, String labelValue, String value) {
        sb.append(name);
        if (label != null) {
            String escaped = labelValue.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
            sb.append('{').append(label).append("=\"").append(escaped).append("\"}");
        }
        sb.append(' ').append(value).append('\n');
    }

    // ------------------------------------------------------------------ loggers

    // Spring Boot's LogLevel; the demo writes no FATAL lines, so FATAL only silences.
    enum Level {
        TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF;

        static Level parse(String s) {
            for (Level level : values()) {
                if (level.name().equalsIgnoreCase(s)) {
                    return level;
                }
            }
            return null;
        }
    }

    /**
     * Logger levels, hierarchical as in Logback: an unset logger takes the level of its
     * nearest configured dotted ancestor, else ROOT's. ROOT always has a level.
     */
    static final class Loggers {
        static final Level ROOT_DEFAULT = Level.INFO;
        final ConcurrentHashMap<String, Level> configured = new ConcurrentHashMap<>();
        final Set<String> known = ConcurrentHashMap.newKeySet();

        Loggers() {
            configured.put(ROOT, ROOT_DEFAULT);
            for (String name : List.of(ROOT, ORANGE, APP, HTTP_LOG)) {
                remember(name);
            }
        }

        static String normalize(String name) {
            return name.equalsIgnoreCase(ROOT) ? ROOT : name;
        }

        Level configured(String name) {
            return configured.get(normalize(name));
        }

        Level effective(String name) {
            String n = normalize(name);
            while (!n.equals(ROOT)) {
                Level level = configured.get(n);
                if (level != null) {
                    return level;
                }
                int dot = n.lastIndexOf('.');
                n = dot < 0 ? ROOT : n.substring(0, dot);
            }
            return configured.getOrDefault(ROOT, ROOT_DEFAULT);
        }

        boolean enabled(String name, Level level) {
            Level threshold = effective(name);
            return threshold != Level.OFF && level.compareTo(threshold) >= 0;
        }

        /** Sets a level; null unsets it (ROOT goes back to its default, INFO). */
        boolean set(String name, Level level) {
            String n = normalize(name);
            if (!known.contains(n) && known.size() >= MAX_LOGGERS) {
                return false;
            }
            if (level != null) {
                configured.put(n, level);
            } else if (n.equals(ROOT)) {
                configured.put(ROOT, ROOT_DEFAULT);
            } else {
                configured.remove(n);
            }
            remember(n);
            return true;
        }

        void remember(String name) {
            String n = name;
            while (true) {
                known.add(n);
                int dot = n.lastIndexOf('.');
                if (dot <= 0) {
                    return;
                }
                n = n.substring(0, dot);
            }
        }

        List<String> names() {
            TreeSet<String> sorted = new TreeSet<>(known);
            sorted.remove(ROOT);
            List<String> names = new ArrayList<>();
            names.add(ROOT);
            names.addAll(sorted);
            return names;
        }
    }

    static String loggerName(String rawSegment) throws HttpError {
        String name = decode(rawSegment.replace("+", "%2B"));
        if (name.isEmpty() || name.length() > 256) {
            throw new HttpError(400, "logger name must have 1 to 256 characters");
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (Character.isWhitespace(c) || Character.isISOControl(c) || c == '/') {
                throw new HttpError(400, "logger name must not contain spaces, control characters or '/'");
            }
        }
        return Loggers.normalize(name);
    }

    Map<String, Object> loggerJson(String name) {
        Map<String, Object> doc = new LinkedHashMap<>();
        Level configured = loggers.configured(name);
        doc.put("configuredLevel", configured == null ? null : configured.name());
        doc.put("effectiveLevel", loggers.effective(name).name());
        return doc;
    }

    Map<String, Object> allLoggers() {
        List<Object> levels = new ArrayList<>();
        Level[] all = Level.values();
        for (int i = all.length - 1; i >= 0; i--) {
            levels.add(all[i].name()); // Spring lists them from OFF down to TRACE
        }
        Map<String, Object> byName = new LinkedHashMap<>();
        for (String name : loggers.names()) {
            byName.put(name, loggerJson(name));
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("levels", levels);
        doc.put("loggers", byName);
        doc.put("groups", new LinkedHashMap<>());
        return doc;
    }

    void setLogger(HttpExchange ex, String name) throws IOException, HttpError {
        String body = readBody(ex);
        if (body.isBlank()) {
            throw new HttpError(400, "request body must be a JSON object such as {\"configuredLevel\": \"DEBUG\"}");
        }
        Object doc;
        try {
            doc = Json.parse(body);
        } catch (Json.JsonError e) {
            throw new HttpError(400, e.getMessage());
        }
        if (!(doc instanceof Map)) {
            throw new HttpError(400, "request body must be a JSON object such as {\"configuredLevel\": \"DEBUG\"}");
        }
        Object value = ((Map<?, ?>) doc).get("configuredLevel");
        Level level = null;
        if (value != null) {
            if (!(value instanceof String)) {
                throw new HttpError(400, "configuredLevel must be a string or null, got " + toJson(value));
            }
            level = Level.parse((String) value);
            if (level == null) {
                throw new HttpError(400, "unknown level " + toJson(value) + ": use one of "
                        + "TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF, or null to unset");
            }
        }
        Level before = loggers.configured(name);
        if (!loggers.set(name, level)) {
            throw new HttpError(400, "too many loggers (" + MAX_LOGGERS + ")");
        }
        log.log(APP, Level.INFO, "logger " + name + " configured level "
                + (level == null ? "unset" : level.name()) + " (was "
                + (before == null ? "unset" : before.name()) + "), effective level "
                + loggers.effective(name).name());
        send(ex, 204, null, "");
    }

    // ------------------------------------------------------------------ thread dump

    /** Whether the Accept header prefers text/plain over JSON; 406 if it takes neither. */
    static boolean wantsText(Headers headers) throws HttpError {
        List<String> values = headers.get("Accept");
        if (values == null || values.isEmpty()) {
            return false;
        }
        double[] text = {0, 0}; // {specificity, q}
        double[] json = {0, 0};
        for (String value : values) {
            for (String range : value.split(",")) {
                String[] parts = range.split(";");
                String type = parts[0].trim().toLowerCase(Locale.ROOT);
                if (type.isEmpty()) {
                    continue;
                }
                double q = 1;
                for (int i = 1; i < parts.length; i++) {
                    String p = parts[i].trim().toLowerCase(Locale.ROOT);
                    if (p.startsWith("q=")) {
                        try {
                            q = Double.parseDouble(p.substring(2));
                        } catch (NumberFormatException e) {
                            q = 0;
                        }
                    }
                }
                consider(text, type, q, "text/plain".equals(type) ? 3 : "text/*".equals(type) ? 2 : 0);
                boolean exactJson = type.equals("application/json")
                        || (type.startsWith("application/vnd.spring-boot.actuator") && type.endsWith("+json"));
                consider(json, type, q, exactJson ? 3 : "application/*".equals(type) ? 2 : 0);
            }
        }
        if (text[1] <= 0 && json[1] <= 0) {
            throw new HttpError(406, "the thread dump is available as application/json or text/plain");
        }
        return text[1] > json[1];
    }

    static void consider(double[] best, String type, double q, int specificity) {
        int spec = specificity > 0 ? specificity : "*/*".equals(type) ? 1 : 0;
        if (spec > best[0]) {
            best[0] = spec;
            best[1] = q;
        }
    }

    static List<Map.Entry<Thread, StackTraceElement[]>> threads() {
        List<Map.Entry<Thread, StackTraceElement[]>> all = new ArrayList<>(Thread.getAllStackTraces().entrySet());
        all.sort(Comparator.comparingLong(e -> e.getKey().getId()));
        return all;
    }

    static String threadDumpText() {
        StringBuilder sb = new StringBuilder();
        sb.append(TS.format(Instant.now())).append('\n');
        sb.append("Full thread dump ").append(System.getProperty("java.vm.name")).append(" (")
                .append(System.getProperty("java.vm.version")).append("):\n");
        for (Map.Entry<Thread, StackTraceElement[]> e : threads()) {
            Thread t = e.getKey();
            sb.append("\n\"").append(t.getName()).append("\" #").append(t.getId());
            if (t.isDaemon()) {
                sb.append(" daemon");
            }
            sb.append(" prio=").append(t.getPriority()).append('\n');
            sb.append("   java.lang.Thread.State: ").append(t.getState()).append('\n');
            for (StackTraceElement frame : e.getValue()) {
                sb.append("\tat ").append(jstackFrame(frame)).append('\n');
            }
        }
        return sb.toString();
    }

    /** A frame as jstack shows it: java.lang.Thread.sleep(java.base@17.0.15/Native Method). */
    static String jstackFrame(StackTraceElement frame) {
        StringBuilder sb = new StringBuilder();
        sb.append(frame.getClassName()).append('.').append(frame.getMethodName()).append('(');
        if (frame.getModuleName() != null) {
            sb.append(frame.getModuleName());
            if (frame.getModuleVersion() != null) {
                sb.append('@').append(frame.getModuleVersion());
            }
            sb.append('/');
        }
        if (frame.isNativeMethod()) {
            sb.append("Native Method");
        } else if (frame.getFileName() == null) {
            sb.append("Unknown Source");
        } else {
            sb.append(frame.getFileName());
            if (frame.getLineNumber() >= 0) {
                sb.append(':').append(frame.getLineNumber());
            }
        }
        return sb.append(')').toString();
    }

    static Map<String, Object> threadDumpJson() {
        List<Object> list = new ArrayList<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : threads()) {
            Thread t = e.getKey();
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("threadName", t.getName());
            doc.put("threadId", t.getId());
            doc.put("daemon", t.isDaemon());
            doc.put("priority", t.getPriority());
            doc.put("threadState", t.getState().name());
            List<Object> frames = new ArrayList<>();
            for (StackTraceElement frame : e.getValue()) {
                Map<String, Object> f = new LinkedHashMap<>();
                f.put("classLoaderName", frame.getClassLoaderName());
                f.put("moduleName", frame.getModuleName());
                f.put("moduleVersion", frame.getModuleVersion());
                f.put("methodName", frame.getMethodName());
                f.put("fileName", frame.getFileName());
                f.put("lineNumber", frame.getLineNumber());
                f.put("className", frame.getClassName());
                f.put("nativeMethod", frame.isNativeMethod());
                frames.add(f);
            }
            doc.put("stackTrace", frames);
            list.add(doc);
        }
        Map<String, Object> dump = new LinkedHashMap<>();
        dump.put("threads", list);
        return dump;
    }

    // ------------------------------------------------------------------ pizza

    void newOrder(HttpExchange ex) throws IOException, HttpError {
        String body = readBody(ex);
        if (body.isBlank()) {
            throw new HttpError(400, "request body must be JSON, for example {\"pizza\": \"margherita\"}");
        }
        Object parsed;
        try {
            parsed = Json.parse(body);
        } catch (Json.JsonError e) {
            throw new HttpError(400, e.getMessage());
        }
        String key = ex.getRequestHeaders().getFirst("Idempotency-Key");
        Map<String, Object> order = new LinkedHashMap<>();
        synchronized (orders) {
            if (orders.size() >= MAX_ORDERS) {
                throw new HttpError(503, "the order book is full (" + MAX_ORDERS + " orders)");
            }
            order.put("id", orders.size() + 1);
            order.put("received_at", TS.format(Instant.now()));
            order.put("idempotency_key", key);
            order.put("body", parsed);
            orders.add(order);
            ordersTotal.incrementAndGet();
        }
        log.log(APP, Level.INFO, "pizza order " + order.get("id") + " received"
                + (key == null ? " without Idempotency-Key" : " with Idempotency-Key " + key));
        ex.getResponseHeaders().set("Location", "/pizza/orders/" + order.get("id"));
        send(ex, 201, JSON, toJson(order));
    }

    Object findOrder(String rawId) {
        if (!rawId.matches("[1-9][0-9]{0,8}")) {
            return null;
        }
        int id = Integer.parseInt(rawId);
        synchronized (orders) {
            return id <= orders.size() ? orders.get(id - 1) : null;
        }
    }

    // ------------------------------------------------------------------ log

    /** Writes log lines, one flushed line at a time, if the logger's level lets them pass. */
    static final class Log {
        final PrintStream out;
        final boolean owned;
        final Map<Level, AtomicLong> lines = new EnumMap<>(Level.class);
        volatile Loggers loggers;
        boolean closed; // guarded by this

        Log(PrintStream out, boolean owned) {
            this.out = out;
            this.owned = owned;
            for (Level level : Level.values()) {
                lines.put(level, new AtomicLong());
            }
        }

        void log(String logger, Level level, String message) {
            Loggers l = loggers;
            if (l != null && !l.enabled(logger, level)) {
                return;
            }
            String line = TS.format(Instant.now()) + " " + level + " " + logger
                    + " [" + Thread.currentThread().getName() + "] " + oneLine(message) + "\n";
            synchronized (this) {
                if (closed) {
                    return;
                }
                out.print(line);
                out.flush();
            }
            lines.get(level).incrementAndGet();
        }

        /** The start-up line, always on stdout. */
        void announce(String line) {
            synchronized (this) {
                System.out.println(line);
                System.out.flush();
            }
        }

        synchronized void close() {
            closed = true;
            out.flush();
            if (owned) {
                out.close();
            }
        }

        static String oneLine(String s) {
            StringBuilder sb = null;
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c < 0x20 || c == 0x7f) {
                    if (sb == null) {
                        sb = new StringBuilder(s.substring(0, i));
                    }
                    sb.append(c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                            : String.format("\\u%04x", (int) c));
                } else if (sb != null) {
                    sb.append(c);
                }
            }
            return sb == null ? s : sb.toString();
        }
    }

    // ------------------------------------------------------------------ JSON

    /** A JSON number kept as written, so that it goes back out unchanged. */
    static final class JsonNumber {
        final String text;

        JsonNumber(String text) {
            this.text = text;
        }
    }

    static String toJson(Object value) {
        StringBuilder sb = new StringBuilder();
        Json.write(sb, value);
        return sb.toString();
    }

    /** A small, strict RFC 8259 parser and a writer: Map, List, String, JsonNumber, Boolean, null. */
    static final class Json {
        static final int MAX_DEPTH = 200;

        static final class JsonError extends Exception {
            private static final long serialVersionUID = 1L;

            JsonError(String message) {
                super(message, null, false, false);
            }
        }

        final String s;
        int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String text) throws JsonError {
            Json p = new Json(text);
            p.skipSpace();
            Object value = p.value(0);
            p.skipSpace();
            if (p.i < text.length()) {
                throw p.error("unexpected data after the JSON value");
            }
            return value;
        }

        JsonError error(String what) {
            return new JsonError("invalid JSON at offset " + i + ": " + what);
        }

        void skipSpace() {
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                i++;
            }
        }

        Object value(int depth) throws JsonError {
            if (depth > MAX_DEPTH) {
                throw error("nested deeper than " + MAX_DEPTH + " levels");
            }
            if (i >= s.length()) {
                throw error("unexpected end of input");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw error("unexpected character '" + c + "'");
            }
        }

        Object literal(String word, Object value) throws JsonError {
            if (!s.startsWith(word, i)) {
                throw error("expected " + word);
            }
            i += word.length();
            return value;
        }

        Map<String, Object> object(int depth) throws JsonError {
            Map<String, Object> map = new LinkedHashMap<>();
            i++; // {
            skipSpace();
            if (i < s.length() && s.charAt(i) == '}') {
                i++;
                return map;
            }
            while (true) {
                skipSpace();
                if (i >= s.length() || s.charAt(i) != '"') {
                    throw error("expected a string key");
                }
                String key = string();
                skipSpace();
                expect(':');
                skipSpace();
                map.put(key, value(depth + 1));
                skipSpace();
                if (i < s.length() && s.charAt(i) == ',') {
                    i++;
                    continue;
                }
                expect('}');
                return map;
            }
        }

        List<Object> array(int depth) throws JsonError {
            List<Object> list = new ArrayList<>();
            i++; // [
            skipSpace();
            if (i < s.length() && s.charAt(i) == ']') {
                i++;
                return list;
            }
            while (true) {
                skipSpace();
                list.add(value(depth + 1));
                skipSpace();
                if (i < s.length() && s.charAt(i) == ',') {
                    i++;
                    continue;
                }
                expect(']');
                return list;
            }
        }

        void expect(char c) throws JsonError {
            if (i >= s.length() || s.charAt(i) != c) {
                throw error("expected '" + c + "'");
            }
            i++;
        }

        String string() throws JsonError {
            StringBuilder sb = new StringBuilder();
            i++; // opening quote
            while (true) {
                if (i >= s.length()) {
                    throw error("unterminated string");
                }
                char c = s.charAt(i++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c < 0x20) {
                    throw error("control character in string");
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                if (i >= s.length()) {
                    throw error("unterminated string");
                }
                char e = s.charAt(i++);
                switch (e) {
                    case '"': sb.append('"'); break;
                    case '\\': sb.append('\\'); break;
                    case '/': sb.append('/'); break;
                    case 'b': sb.append('\b'); break;
                    case 'f': sb.append('\f'); break;
                    case 'n': sb.append('\n'); break;
                    case 'r': sb.append('\r'); break;
                    case 't': sb.append('\t'); break;
                    case 'u':
                        if (i + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        int code = 0;
                        for (int k = 0; k < 4; k++) {
                            int d = Character.digit(s.charAt(i + k), 16);
                            if (d < 0) {
                                throw error("bad \\u escape");
                            }
                            code = code * 16 + d;
                        }
                        i += 4;
                        sb.append((char) code);
                        break;
                    default:
                        i--;
                        throw error("bad escape \\" + e);
                }
            }
        }

        JsonNumber number() throws JsonError {
            int start = i;
            if (s.charAt(i) == '-') {
                i++;
            }
            if (i < s.length() && s.charAt(i) == '0') {
                i++;
            } else if (!digits()) {
                throw error("bad number");
            }
            if (i < s.length() && s.charAt(i) == '.') {
                i++;
                if (!digits()) {
                    throw error("bad number: digits expected after '.'");
                }
            }
            if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
                i++;
                if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                    i++;
                }
                if (!digits()) {
                    throw error("bad number: digits expected in exponent");
                }
            }
            return new JsonNumber(s.substring(start, i));
        }

        boolean digits() {
            int start = i;
            while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
                i++;
            }
            return i > start;
        }

        static void write(StringBuilder sb, Object v) {
            if (v == null) {
                sb.append("null");
            } else if (v instanceof String) {
                quote(sb, (String) v);
            } else if (v instanceof JsonNumber) {
                sb.append(((JsonNumber) v).text);
            } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
                sb.append(v);
            } else if (v instanceof Double) {
                double d = (Double) v;
                sb.append(Double.isFinite(d) ? formatNumber(d) : "null");
            } else if (v instanceof Map) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    quote(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (v instanceof List) {
                sb.append('[');
                boolean first = true;
                for (Object item : (List<?>) v) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    write(sb, item);
                }
                sb.append(']');
            } else {
                quote(sb, v.toString());
            }
        }

        static void quote(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    case '\b': sb.append("\\b"); break;
                    case '\f': sb.append("\\f"); break;
                    default:
                        boolean pair = Character.isHighSurrogate(c) && i + 1 < s.length()
                                && Character.isLowSurrogate(s.charAt(i + 1));
                        if (pair) {
                            sb.append(c).append(s.charAt(++i));
                        } else if (c < 0x20 || Character.isSurrogate(c) || c == '\u2028' || c == '\u2029') {
                            sb.append(String.format("\\u%04x", (int) c)); // lone surrogates too
                        } else {
                            sb.append(c);
                        }
                }
            }
            sb.append('"');
        }
    }
}
