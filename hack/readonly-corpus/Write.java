// Write fails to write a file the ways Java programs report it: an uncaught NIO exception (with a
// cause chain) and a caught java.io exception printed by printStackTrace.
import java.io.FileOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

public class Write {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("io")) {
            try (FileOutputStream out = new FileOutputStream(args[1])) {
                out.write('x');
            } catch (java.io.IOException e) {
                e.printStackTrace();
            }
            return;
        }
        try {
            Files.writeString(Path.of(args[1]), "x");
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot save state", e);
        }
    }
}
