import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * A small program to profile: two hot methods in a known proportion, some
 * allocation and a contended lock, so that every kind of event Ember reads
 * from a Java Flight Recorder file has something to show.
 *
 * <ul>
 *   <li>{@code cpuHeavy} does twice the work of {@code cpuLight}, one call of
 *       each per round on the main thread, so the two share the main thread's
 *       CPU samples about 2 to 1 however busy the machine is;</li>
 *   <li>{@code allocateSmall} fills new TLABs with small arrays
 *       (jdk.ObjectAllocationInNewTLAB) and {@code allocateLarge} makes arrays
 *       too large for any TLAB (jdk.ObjectAllocationOutsideTLAB);</li>
 *   <li>two threads take turns holding one monitor for 20 ms, so each waits
 *       for the other in {@code holdLock} (jdk.JavaMonitorEnter, recorded
 *       above 10 ms with settings=profile).</li>
 * </ul>
 *
 * It runs until the main thread has used {@code -Dseconds=N} seconds of CPU
 * time (3 by default), at most ten times that long in wall time:
 *
 * <pre>
 *   javac -d out HotMethods.java
 *   java -XX:StartFlightRecording=settings=profile,filename=hot.jfr -cp out HotMethods
 * </pre>
 */
public final class HotMethods {
  private static final Object LOCK = new Object();
  private static volatile long sink;
  private static volatile boolean running = true;
  private static volatile Object keep;

  /** n steps of a linear congruential generator: pure CPU work. */
  private static long spin(long n) {
    long x = sink;
    for (long i = 0; i < n; i++) {
      x = x * 6364136223846793005L + 1442695040888963407L;
    }
    return x;
  }

  static void cpuHeavy() {
    sink = spin(4_000_000);
  }

  static void cpuLight() {
    sink = spin(2_000_000);
  }

  static void allocateSmall() {
    Object last = null;
    for (int i = 0; i < 20_000; i++) {
      last = new long[16];
    }
    keep = last;
  }

  static void allocateLarge() {
    keep = new byte[8 << 20];
  }

  static void holdLock() throws InterruptedException {
    synchronized (LOCK) {
      Thread.sleep(20);
    }
  }

  private static Thread contender(String name) {
    Thread t = new Thread(() -> {
      try {
        while (running) {
          holdLock();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  public static void main(String[] args) throws Exception {
    double seconds = Double.parseDouble(System.getProperty("seconds", "3"));
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long cpuBudget = (long) (seconds * 1e9);
    long wallLimit = System.nanoTime() + cpuBudget * 10;
    long cpuStart = mx.getCurrentThreadCpuTime();
    Thread a = contender("contender-a");
    Thread b = contender("contender-b");
    long rounds = 0;
    while (mx.getCurrentThreadCpuTime() - cpuStart < cpuBudget
        && System.nanoTime() < wallLimit) {
      cpuHeavy();
      cpuLight();
      allocateSmall();
      if (rounds++ % 8 == 0) {
        allocateLarge();
      }
    }
    running = false;
    a.join();
    b.join();
    System.out.printf("HotMethods: %d rounds in %.2f s of CPU time%n", rounds,
        (mx.getCurrentThreadCpuTime() - cpuStart) / 1e9);
  }
}
