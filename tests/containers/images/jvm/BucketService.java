// Keeps one named thread busy in a recognisable method, so that a thread dump taken
// from outside the container can be checked for it.
public class BucketService {
    static volatile long level;

    static void fillOrangeBucket() throws InterruptedException {
        while (true) {
            level++;
            Thread.sleep(50);
        }
    }

    public static void main(String[] args) throws Exception {
        Thread filler = new Thread(() -> {
            try {
                fillOrangeBucket();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "orange-bucket-filler");
        filler.start();
        System.out.println("bucket service started");
        filler.join();
    }
}
